// Package jirabridge is part of AccessBridge.
package jirabridge
