// Package bus is part of AccessBridge.
package bus
