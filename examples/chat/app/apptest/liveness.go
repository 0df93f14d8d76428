package apptest

import (
	"testing"
	"time"

	"github.com/gqlambda/gqlambda"
	"github.com/gqlambda/gqlambda/examples/chat/app"
)

// liveness runs e2e/liveness.test.mjs, the npm graphql-ws client against
// the sweeper's pings, on every store: the chat sweeps every 200 ms, pings
// connections idle for 300 ms and closes those that have not answered 2 s
// later.
func liveness(t *testing.T, newEngine app.NewEngine, dir string) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			opts := sc.opts(t)
			opts.SweepInterval = 200 * time.Millisecond
			opts.Liveness = gqlambda.Liveness{Ping: true, IdleAfter: 300 * time.Millisecond, PongTimeout: 2 * time.Second}
			a := startApp(t, newEngine, opts)
			out := Node(t, dir, []string{"CHAT_WS_URL=" + a.WebSocketURL}, "--test", "--test-reporter=spec", "liveness.test.mjs")
			t.Log(out)
			waitDisconnected(t, a)
			expectNoSubscriptions(t, a)
		})
	}
}
