module github.com/accessbridge/accessbridge/services/webhook-ingress

go 1.26
