// Package webhookingress is part of AccessBridge.
package webhookingress
