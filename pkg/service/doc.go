// Package service is part of AccessBridge.
package service
