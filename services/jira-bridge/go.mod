module github.com/accessbridge/accessbridge/services/jira-bridge

go 1.26
