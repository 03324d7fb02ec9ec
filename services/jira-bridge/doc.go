// Package jirabridge is the AccessBridge service that holds the Jira
// credentials: it turns Teleport access request events into Jira issues
// (exactly once), comments and transitions, and Jira status moves into
// verified decision.requested events. See DESIGN.md §2–§5.
package jirabridge
