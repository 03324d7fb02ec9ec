module github.com/accessbridge/accessbridge/sim/jira

go 1.26
