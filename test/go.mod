module github.com/accessbridge/accessbridge/test

go 1.26
