// Package accessbridge is part of AccessBridge.
package accessbridge
