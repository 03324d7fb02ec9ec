module github.com/accessbridge/accessbridge/pkg/events

go 1.26
