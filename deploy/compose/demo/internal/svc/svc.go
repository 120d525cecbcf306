// Package svc is what the demo's services share: settings from the
// environment and a healthcheck mode for images that have no shell.
package svc

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

// Env is the variable name's value, or def when it is unset or empty.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// CheckMode handles "PROGRAM check URL": it exits 0 when URL answers 200,
// else 1. Other arguments return.
func CheckMode() {
	if len(os.Args) != 3 || os.Args[1] != "check" {
		return
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, os.Args[2], resp.Status)
		os.Exit(1)
	}
	os.Exit(0)
}
