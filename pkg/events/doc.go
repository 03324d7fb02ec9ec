// Package events is part of AccessBridge.
package events
