module github.com/accessbridge/accessbridge/cmd/healthcheck

go 1.26.0
