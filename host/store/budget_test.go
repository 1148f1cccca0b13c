package store

import (
	"context"
	"testing"
)

func TestEgressUsageSurvivesRestart(t *testing.T) {
	eachDialect(t, testEgressUsageSurvivesRestart)
}

func testEgressUsageSurvivesRestart(t *testing.T, open opener) {
	ctx := context.Background()
	db := open(t)
	if _, err := db.AddEgress(ctx, "default", "did:key:zA", "2026-11-27", 100); err != nil {
		t.Fatal(err)
	}
	total, err := db.AddEgress(ctx, "default", "did:key:zA", "2026-11-27", 50)
	if err != nil || total != 150 {
		t.Fatalf("total = %d, %v; want 150", total, err)
	}
	if _, err := db.AddEgress(ctx, "default", "did:key:zA", "2026-11-27", -1); err == nil {
		t.Fatal("negative byte count accepted")
	}
	db.Close()
	db = open(t)
	for _, c := range []struct {
		realm, agent, day string
		want              int64
	}{
		{"default", "did:key:zA", "2026-11-27", 150},
		{"other", "did:key:zA", "2026-11-27", 0},   // another realm is another budget
		{"default", "did:key:zB", "2026-11-27", 0}, // another agent
		{"default", "did:key:zA", "2026-11-28", 0}, // another day
	} {
		got, err := db.Egress(ctx, c.realm, c.agent, c.day)
		if err != nil || got != c.want {
			t.Errorf("Egress(%s, %s, %s) = %d, %v; want %d", c.realm, c.agent, c.day, got, err, c.want)
		}
	}
}
