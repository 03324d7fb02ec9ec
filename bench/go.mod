module github.com/accessbridge/accessbridge/bench

go 1.26
