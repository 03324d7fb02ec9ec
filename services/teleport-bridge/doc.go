// Package teleportbridge is part of AccessBridge.
package teleportbridge
