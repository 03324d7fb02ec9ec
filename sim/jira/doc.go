// Package jirasim is part of AccessBridge.
package jirasim
