module github.com/accessbridge/accessbridge/cmd/accessbridge

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/accessbridge/accessbridge/pkg/app v0.0.0
	github.com/accessbridge/accessbridge/pkg/bus v0.0.0
	github.com/accessbridge/accessbridge/pkg/events v0.0.0
	github.com/accessbridge/accessbridge/pkg/service v0.0.0
	github.com/accessbridge/accessbridge/services/jira-bridge v0.0.0
	github.com/accessbridge/accessbridge/services/mattermost-bridge v0.0.0
	github.com/accessbridge/accessbridge/services/teleport-bridge v0.0.0
	github.com/accessbridge/accessbridge/services/webhook-ingress v0.0.0
	github.com/accessbridge/accessbridge/sim/mattermost v0.0.0-00010101000000-000000000000
	github.com/accessbridge/accessbridge/sim/teleport v0.0.0
	github.com/gravitational/teleport/api v0.0.0-20250128104452-ecabf6b767ac
	github.com/nats-io/nats-server/v2 v2.15.2
	github.com/nats-io/nats.go v1.55.0
	github.com/prometheus/client_golang v1.23.2
	github.com/rs/zerolog v1.35.1
)

require (
	github.com/andygrunwald/go-jira v1.17.0 // indirect
	github.com/antithesishq/antithesis-sdk-go v0.8.0-default-no-op // indirect
	github.com/beevik/etree v1.3.0 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cenkalti/backoff/v4 v4.3.0 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/coreos/go-semver v0.3.1 // indirect
	github.com/fatih/structs v1.1.0 // indirect
	github.com/felixge/httpsnoop v1.0.4 // indirect
	github.com/go-chi/chi/v5 v5.5.0 // indirect
	github.com/go-logr/logr v1.4.2 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/go-piv/piv-go v1.11.0 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/gobwas/ws v1.4.0 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang-jwt/jwt/v4 v4.5.2 // indirect
	github.com/google/go-querystring v1.1.0 // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/gravitational/trace v1.4.0 // indirect
	github.com/grpc-ecosystem/grpc-gateway/v2 v2.25.1 // indirect
	github.com/jonboulle/clockwork v0.5.0 // indirect
	github.com/kelseyhightower/envconfig v1.4.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/mattermost/xml-roundtrip-validator v0.1.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/nats-io/jwt/v2 v2.8.2 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.66.1 // indirect
	github.com/prometheus/procfs v0.16.1 // indirect
	github.com/russellhaering/gosaml2 v0.9.1 // indirect
	github.com/russellhaering/goxmldsig v1.4.0 // indirect
	github.com/trivago/tgo v1.0.7 // indirect
	go.opentelemetry.io/auto/sdk v1.1.0 // indirect
	go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc v0.58.0 // indirect
	go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp v0.58.0 // indirect
	go.opentelemetry.io/otel v1.33.0 // indirect
	go.opentelemetry.io/otel/exporters/otlp/otlptrace v1.33.0 // indirect
	go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc v1.33.0 // indirect
	go.opentelemetry.io/otel/metric v1.33.0 // indirect
	go.opentelemetry.io/otel/sdk v1.33.0 // indirect
	go.opentelemetry.io/otel/trace v1.33.0 // indirect
	go.opentelemetry.io/proto/otlp v1.5.0 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/exp v0.0.0-20250106191152-7588d65b2ba8 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/term v0.47.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	golang.org/x/time v0.16.0 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20250102185135-69823020774d // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250102185135-69823020774d // indirect
	google.golang.org/grpc v1.69.2 // indirect
	google.golang.org/protobuf v1.36.8 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/accessbridge/accessbridge/pkg/app => ../../pkg/app
	github.com/accessbridge/accessbridge/pkg/bus => ../../pkg/bus
	github.com/accessbridge/accessbridge/pkg/events => ../../pkg/events
	github.com/accessbridge/accessbridge/pkg/service => ../../pkg/service
	github.com/accessbridge/accessbridge/services/jira-bridge => ../../services/jira-bridge
	github.com/accessbridge/accessbridge/services/mattermost-bridge => ../../services/mattermost-bridge
	github.com/accessbridge/accessbridge/services/teleport-bridge => ../../services/teleport-bridge
	github.com/accessbridge/accessbridge/services/webhook-ingress => ../../services/webhook-ingress
	github.com/accessbridge/accessbridge/sim/jira => ../../sim/jira
	github.com/accessbridge/accessbridge/sim/mattermost => ../../sim/mattermost
	github.com/accessbridge/accessbridge/sim/teleport => ../../sim/teleport
	google.golang.org/genproto => google.golang.org/genproto v0.0.0-20250102185135-69823020774d
)
