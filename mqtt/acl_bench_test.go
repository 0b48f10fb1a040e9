package mqtt_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/stratamq/strata/auth"
	"github.com/stratamq/strata/mqtt"
)

// BenchmarkPublishACL: QoS 0 publishes from one paho client to one
// subscriber on a fake cluster, with no ACL and with 1,000 rules for the
// user (each publish and each delivery is checked); msgs/s end to end.
// Run with -benchtime 20000x (short; past QueueLength the subscriber now
// catches up from the log instead of dropping, so larger counts work too).
func BenchmarkPublishACL(b *testing.B) {
	var rules strings.Builder
	rules.WriteString("user big\n")
	for i := range 1000 {
		fmt.Fprintf(&rules, "topic readwrite room/%d/+\n", i)
	}
	acl, err := auth.ParseACL("bench", []byte(rules.String()))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		az   auth.Authorizer
	}{{"none", nil}, {"rules=1000", auth.NewPolicy(acl)}} {
		b.Run(tc.name, func(b *testing.B) {
			tb := startBroker(b, func(o *mqtt.Options) {
				o.Auth, o.Authorizer = users{"big": "pw"}, tc.az
			})
			login := func(o *paho.ClientOptions) { o.SetUsername("big").SetPassword("pw") }
			var got atomic.Int64
			done := make(chan struct{})
			sub := pahoClient(b, tb.url(), "sub", true, login)
			sub.Subscribe("room/517/+", 0, func(paho.Client, paho.Message) {
				if got.Add(1) == int64(b.N) {
					close(done)
				}
			}).Wait()
			pub := pahoClient(b, tb.url(), "pub", true, login)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				pub.Publish("room/517/x", 0, false, "payload")
			}
			select {
			case <-done:
			case <-time.After(time.Minute):
				b.Fatalf("received %d of %d", got.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
