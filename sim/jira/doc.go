// Package jirasim is AccessBridge's Jira emulator for tests and the demo: Jira
// REST API v2 as Jira Cloud or Data Center serves it (issues, a configurable
// workflow, comments, changelog, entity properties, custom fields, JQL
// search, Basic and Bearer auth), webhooks shaped like real Jira payloads and
// signed with X-Hub-Signature, injectable faults, a board page to move cards
// as a reviewer, and /_sim admin endpoints. Start one in a test with Start;
// run it out of process with cmd/jira-sim. It is a tool, never the product.
package jirasim
