module github.com/accessbridge/accessbridge/pkg/bus

go 1.26
