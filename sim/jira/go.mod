module github.com/accessbridge/accessbridge/sim/jira

go 1.26

require (
	github.com/andygrunwald/go-jira v1.17.0
	github.com/rs/zerolog v1.35.1
	github.com/trivago/tgo v1.0.7
)

require (
	github.com/fatih/structs v1.1.0 // indirect
	github.com/golang-jwt/jwt/v4 v4.5.2 // indirect
	github.com/google/go-querystring v1.1.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	golang.org/x/sys v0.34.0 // indirect
)
