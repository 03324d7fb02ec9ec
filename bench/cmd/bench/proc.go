package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// procSample is one reading of /proc/<pid>/stat and status.
type procSample struct {
	at     time.Time
	cpu    time.Duration // utime + stime
	rssKiB int64
	hwmKiB int64
}

func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces: fields start after the last ')'.
	str := string(b)
	i := strings.LastIndexByte(str, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(str[i+1:])
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.cpu = time.Duration(ut+st) * time.Second / clockTicks
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := sc.Text()
		for _, k := range []struct {
			p string
			v *int64
		}{{"VmRSS:", &s.rssKiB}, {"VmHWM:", &s.hwmKiB}} {
			if rest, ok := strings.CutPrefix(line, k.p); ok {
				*k.v, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			}
		}
	}
	return s, sc.Err()
}

// ProcUsage is the resource use of one process over a window.
type ProcUsage struct {
	Process    string  `json:"process"`
	CPUPercent float64 `json:"cpu_percent"` // of one core
	CPUSeconds float64 `json:"cpu_seconds"`
	RSSMiB     float64 `json:"rss_mib"`      // at the end of the window
	PeakRSSMiB float64 `json:"peak_rss_mib"` // highest sampled RSS in the window
	Seconds    float64 `json:"seconds"`
}

// sampler polls processes every interval until stopped.
type sampler struct {
	procs map[string]int
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	first map[string]procSample
	last  map[string]procSample
	peak  map[string]int64
}

func startSampler(procs map[string]int, every time.Duration) *sampler {
	s := &sampler{procs: procs, stop: make(chan struct{}), done: make(chan struct{}),
		first: map[string]procSample{}, last: map[string]procSample{}, peak: map[string]int64{}}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				s.sample()
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, pid := range s.procs {
		p, err := readProc(pid)
		if err != nil {
			continue
		}
		if _, ok := s.first[name]; !ok {
			s.first[name] = p
		}
		s.last[name] = p
		s.peak[name] = max(s.peak[name], p.rssKiB)
	}
}

func (s *sampler) Stop() []ProcUsage {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ProcUsage
	for _, name := range sortedKeys(s.procs) {
		f, l := s.first[name], s.last[name]
		secs := l.at.Sub(f.at).Seconds()
		u := ProcUsage{Process: name, CPUSeconds: (l.cpu - f.cpu).Seconds(), Seconds: secs,
			RSSMiB: float64(l.rssKiB) / 1024, PeakRSSMiB: float64(s.peak[name]) / 1024}
		if secs > 0 {
			u.CPUPercent = 100 * u.CPUSeconds / secs
		}
		out = append(out, u)
	}
	return out
}

// machineSample is one reading of the first line of /proc/stat: the time
// all CPUs spent in each state since boot, in clock ticks.
type machineSample struct {
	total, idle, steal int64
}

// readMachine reads /proc/stat. Steal is the time the hypervisor ran
// something else while this VM had work for its CPUs: a figure measured
// during much steal measures the neighbours, not the product.
func readMachine() (machineSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineSample{}, err
	}
	return parseProcStat(string(b))
}

// machineSince reads /proc/stat now and returns a function that gives the
// machine's steal and idle shares (per cent) since then; zero when
// /proc/stat cannot be read.
func machineSince() func() (steal, idle float64) {
	m0, err0 := readMachine()
	return func() (float64, float64) {
		m1, err := readMachine()
		if err != nil || err0 != nil {
			return 0, 0
		}
		return machineShare(m0, m1)
	}
}

// parseProcStat reads the aggregate "cpu" line, the first of /proc/stat.
func parseProcStat(stat string) (machineSample, error) {
	var m machineSample
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	// cpu user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is already counted in user and nice.
	if len(f) < 9 || f[0] != "cpu" {
		return m, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc/stat: %q: %w", line, err)
		}
		m.total += v
		switch i {
		case 3, 4: // idle, iowait
			m.idle += v
		case 7:
			m.steal += v
		}
	}
	return m, nil
}

// machineShare is the share of the machine's CPU time between two
// readings that was stolen and that was idle, in per cent (NaN-free: zero
// when nothing was counted).
func machineShare(a, b machineSample) (steal, idle float64) {
	d := b.total - a.total
	if d <= 0 {
		return 0, 0
	}
	return 100 * float64(b.steal-a.steal) / float64(d), 100 * float64(b.idle-a.idle) / float64(d)
}
