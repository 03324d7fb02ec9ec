// Package test is part of AccessBridge.
package test
