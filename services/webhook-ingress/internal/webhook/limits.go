package webhook

import (
	"sync"
	"time"
)

// ipSlots counts the deliveries in flight per client address.
type ipSlots struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newIPSlots(max int) *ipSlots { return &ipSlots{max: max, n: map[string]int{}} }

func (s *ipSlots) acquire(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[ip] >= s.max {
		return false
	}
	s.n[ip]++
	return true
}

func (s *ipSlots) release(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[ip]--; s.n[ip] <= 0 {
		delete(s.n, ip) // the map holds only addresses with deliveries in flight
	}
}

// failureLog throttles the security events of failed authentications: the
// first failure of an address is logged, then at most one line a minute
// with the count since the last line.
type failureLog struct {
	mu        sync.Mutex
	byIP      map[string]*failures
	lastSweep time.Time
}

type failures struct {
	count  int
	logged time.Time
}

// failureLogEvery is the shortest interval between two lines of one address.
const failureLogEvery = time.Minute

func newFailureLog() *failureLog { return &failureLog{byIP: map[string]*failures{}} }

// note counts a failure of ip; log says a line is due, with n failures.
func (l *failureLog) note(ip string, now time.Time) (n int, log bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > failureLogEvery || len(l.byIP) >= maxBuckets {
		l.lastSweep = now
		for k, f := range l.byIP {
			if now.Sub(f.logged) > failureLogEvery && f.count == 0 {
				delete(l.byIP, k)
			}
		}
	}
	f, ok := l.byIP[ip]
	if !ok {
		if len(l.byIP) >= maxBuckets {
			return 0, false // counted in the metrics; the table is full of noisy addresses already logged
		}
		f = &failures{}
		l.byIP[ip] = f
	}
	f.count++
	if ok && now.Sub(f.logged) < failureLogEvery {
		return 0, false
	}
	n, f.count, f.logged = f.count, 0, now
	return n, true
}
