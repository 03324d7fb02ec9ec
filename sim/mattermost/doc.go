// Package mattermostsim is a Mattermost server emulator for tests and the
// demo: the part of REST API v4 that the mattermost-bridge uses, answered as
// the real server answers (status codes, JSON field names, the AppError body
// {"id","message","detailed_error","request_id","status_code"}, Bearer token
// auth, X-RateLimit-* headers and plain-text 429s), with injectable faults
// and a small HTML page listing channels and posts.
package mattermostsim
