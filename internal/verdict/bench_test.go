package verdict

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/netchange-io/netchange/api/v1alpha1"
)

// BenchmarkCheck measures what the executor does before every mutating call:
// decode, key lookup, signature, binding and expiry of one verdict.
func BenchmarkCheck(b *testing.B) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	st := v1.VerdictStatement{Cluster: "control", Namespace: "default", Name: "r", RequestUID: "uid", Generation: 1,
		PlanDigest: "sha256:0000000000000000000000000000000000000000000000000000000000000000", Decision: v1.DecisionApprove,
		PolicyVersion: "default@1/abc", ExpiresAt: metav1.NewTime(now.Add(time.Hour)), Nonce: "n"}
	sv, err := Sign(st, priv)
	if err != nil {
		b.Fatal(err)
	}
	keys := KeySet{KeyID(pub): pub}
	want := Binding{Cluster: "control", Namespace: "default", Name: "r", RequestUID: "uid", Generation: 1, PlanDigest: st.PlanDigest}
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(sv, keys, want, now); err != nil {
			b.Fatal(err)
		}
	}
}
