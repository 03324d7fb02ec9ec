// Package bench is part of AccessBridge.
package bench
