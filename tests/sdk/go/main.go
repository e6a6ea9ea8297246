// Drives the real sentry-go SDK for tests/integration/test_sdk_matrix.py.
//
// Environment: SENTRY_DSN (the relay's DSN), TERN_RELEASE. Sends a
// breadcrumb trail, a user and a tag set, the *strconv.NumError that
// checkOrder gets from strconv.Atoi (with an attachment) and a warning
// message, then flushes. A Go error carries no stack trace: sentry-go takes
// the stack where CaptureException is called, so checkOrder (not a closure)
// captures it and is the culprit. sentry-go has no release-health sessions (no
// session API in the SDK), so none is sent.
// Prints one JSON line: {"sdk": version, "exception_id": ..., "message_id": ...}.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/getsentry/sentry-go"
)

func parseQuantity(text string) (int, error) {
	return strconv.Atoi(text)
}

// checkOrder reports the order's bad quantity on a hub of its own, whose
// scope carries the order as an attachment.
func checkOrder(hub *sentry.Hub, quantity string) *sentry.EventID {
	hub.Scope().AddAttachment(&sentry.Attachment{
		Filename:    "order.txt",
		ContentType: "text/plain",
		Payload:     []byte("order 4711: 3 items\n"),
	})
	if _, err := parseQuantity(quantity); err != nil {
		return hub.CaptureException(err)
	}
	return nil
}

func main() {
	err := sentry.Init(sentry.ClientOptions{
		Dsn:         os.Getenv("SENTRY_DSN"),
		Release:     os.Getenv("TERN_RELEASE"),
		Environment: "integration",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sentry.Init:", err)
		os.Exit(2)
	}

	sentry.ConfigureScope(func(scope *sentry.Scope) {
		scope.SetUser(sentry.User{ID: "4711", Username: "ada", Email: "ada@example.com"})
		scope.SetTag("tern.matrix", "go")
		scope.SetTag("shard", "7")
	})
	for _, step := range []string{"opened the order form", "validated the order", "submitted the order"} {
		sentry.AddBreadcrumb(&sentry.Breadcrumb{Category: "matrix", Message: step, Level: sentry.LevelInfo})
	}

	var messageID *sentry.EventID
	exceptionID := checkOrder(sentry.CurrentHub().Clone(), "three")
	sentry.WithScope(func(scope *sentry.Scope) {
		scope.SetLevel(sentry.LevelWarning)
		messageID = sentry.CaptureMessage("tern matrix message: order queue is full")
	})

	flushed := sentry.Flush(15 * time.Second)
	if exceptionID == nil || messageID == nil {
		fmt.Fprintln(os.Stderr, "an event was not captured")
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]string{
		"sdk":          sentry.SDKVersion,
		"exception_id": string(*exceptionID),
		"message_id":   string(*messageID),
	})
	fmt.Println(string(out))
	if !flushed {
		os.Exit(1)
	}
}
