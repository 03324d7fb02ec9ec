module github.com/accessbridge/accessbridge/services/teleport-bridge

go 1.26
