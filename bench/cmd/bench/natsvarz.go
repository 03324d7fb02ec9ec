package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// natsCounters are the server-wide message counters of nats-server's
// /varz: in_msgs counts every message clients sent the server (publishes,
// JetStream API requests, pull requests, acks), out_msgs every message it
// sent them (deliveries, replies). One NATS round trip is one of each.
type natsCounters struct {
	InMsgs  int64 `json:"in_msgs"`
	OutMsgs int64 `json:"out_msgs"`
}

func readVarz(addr string) (natsCounters, error) {
	var c natsCounters
	if addr == "" {
		return c, fmt.Errorf("no NATS monitoring address")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/varz", nil)
	if err != nil {
		return c, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("/varz: HTTP %d", resp.StatusCode)
	}
	return c, json.NewDecoder(resp.Body).Decode(&c)
}
