module github.com/accessbridge/accessbridge/cmd/accessbridge

go 1.26
