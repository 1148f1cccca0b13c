package budget

import (
	"errors"
	"testing"
	"time"
)

func TestCallsPerMinute(t *testing.T) {
	var c Calls
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		if err := c.Allow("default", "A", 5, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("call %d refused: %v", i, err)
		}
	}
	if err := c.Allow("default", "A", 5, t0.Add(10*time.Second)); !errors.Is(err, ErrExceeded) {
		t.Fatalf("6th call in a minute: got %v, want ErrExceeded", err)
	}
	// another agent is not affected by A's exhaustion
	if err := c.Allow("default", "B", 5, t0.Add(10*time.Second)); err != nil {
		t.Fatalf("agent B refused because of agent A: %v", err)
	}
	// the same DID in another realm has its own budget
	if err := c.Allow("other", "A", 5, t0.Add(10*time.Second)); err != nil {
		t.Fatalf("agent A in another realm refused: %v", err)
	}
	// two minutes later the window has slid past
	if err := c.Allow("default", "A", 5, t0.Add(2*time.Minute+time.Second)); err != nil {
		t.Fatalf("call after the window refused: %v", err)
	}
	// unlimited
	for i := 0; i < 100; i++ {
		if err := c.Allow("default", "C", 0, t0); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRefusedCallsAreNotCounted(t *testing.T) {
	var c Calls
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	if err := c.Allow("r", "A", 1, t0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		_ = c.Allow("r", "A", 1, t0.Add(time.Second))
	}
	// one minute and a half later, half of the previous bucket weighs in: 0.5 + 1 > 1 would refuse
	// only if refused calls had been counted; with one counted call the weight is 0.5.
	if err := c.Allow("r", "A", 2, t0.Add(90*time.Second)); err != nil {
		t.Fatalf("refused calls were counted: %v", err)
	}
}
