// Package teleportsim is part of AccessBridge.
package teleportsim
