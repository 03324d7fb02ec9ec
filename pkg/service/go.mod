module github.com/accessbridge/accessbridge/pkg/service

go 1.26
