module github.com/accessbridge/accessbridge/test

go 1.26.0

require (
	github.com/accessbridge/accessbridge/pkg/events v0.0.0
	github.com/accessbridge/accessbridge/sim/demo v0.0.0
	github.com/accessbridge/accessbridge/sim/jira v0.0.0
	github.com/accessbridge/accessbridge/sim/teleport v0.0.0
	github.com/gravitational/teleport/api v0.0.0-20250128104452-ecabf6b767ac
	github.com/nats-io/nats.go v1.55.0
)

require (
	github.com/accessbridge/accessbridge/sim/mattermost v0.0.0 // indirect
	github.com/beevik/etree v1.3.0 // indirect
	github.com/coreos/go-semver v0.3.1 // indirect
	github.com/go-piv/piv-go v1.11.0 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/gravitational/trace v1.4.0 // indirect
	github.com/jonboulle/clockwork v0.5.0 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/mattermost/xml-roundtrip-validator v0.1.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/rs/zerolog v1.35.1 // indirect
	github.com/russellhaering/gosaml2 v0.9.1 // indirect
	github.com/russellhaering/goxmldsig v1.4.0 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/exp v0.0.0-20250106191152-7588d65b2ba8 // indirect
	golang.org/x/net v0.58.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/term v0.46.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250102185135-69823020774d // indirect
	google.golang.org/grpc v1.69.2 // indirect
	google.golang.org/protobuf v1.36.4 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/accessbridge/accessbridge/pkg/events => ../pkg/events
	github.com/accessbridge/accessbridge/sim/demo => ../sim/demo
	github.com/accessbridge/accessbridge/sim/jira => ../sim/jira
	github.com/accessbridge/accessbridge/sim/mattermost => ../sim/mattermost
	github.com/accessbridge/accessbridge/sim/teleport => ../sim/teleport
)

replace google.golang.org/genproto => google.golang.org/genproto v0.0.0-20250102185135-69823020774d
