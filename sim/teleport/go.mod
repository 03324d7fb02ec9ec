module github.com/accessbridge/accessbridge/sim/teleport

go 1.26
