// Command porcupine-driver checks one faultline JSONL history (single key, cas-register, nil
// initial value, as scripts/bench-hard's generator writes them) with Go Porcupine, to compare
// against `faultline check`. Usage: porcupine-driver FILE [TIMEOUT_S]. Prints ok / illegal /
// unknown, the op counts and the check time.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

const nilVal = math.MinInt64 // the register's nil (never written); the generator's initial value

type input struct {
	f    byte // 'r', 'w', 'c'
	a, b int64
	// crashed: an info op (output unknown); a crashed cas whose old value does not match is
	// a no-op, so it can be placed after everything, which is faultline's "left out".
	crashed bool
}

type line struct {
	Time    int64           `json:"time"`
	Type    string          `json:"type"`
	Process int64           `json:"process"`
	F       string          `json:"f"`
	Value   json.RawMessage `json:"value"`
}

func val(raw interface{}) int64 {
	if raw == nil {
		return nilVal
	}
	return int64(raw.(float64))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: porcupine-driver FILE [TIMEOUT_S]")
		os.Exit(2)
	}
	timeout := 120 * time.Second
	if len(os.Args) > 2 {
		s, _ := strconv.Atoi(os.Args[2])
		timeout = time.Duration(s) * time.Second
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	type pending struct {
		call int64
		in   input
	}
	open := map[int64]pending{}
	var ops []porcupine.Operation
	var crashed []porcupine.Operation
	var maxTime int64
	nFail, nInfoRead := 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			panic(err)
		}
		if l.Time > maxTime {
			maxTime = l.Time
		}
		var v interface{}
		_ = json.Unmarshal(l.Value, &v)
		switch l.Type {
		case "invoke":
			in := input{f: l.F[0]}
			switch l.F {
			case "write":
				in.a = val(v)
			case "cas":
				p := v.([]interface{})
				in.a, in.b = val(p[0]), val(p[1])
			}
			open[l.Process] = pending{l.Time, in}
		case "ok":
			p := open[l.Process]
			delete(open, l.Process)
			var out int64
			if l.F == "read" {
				out = val(v)
			}
			ops = append(ops, porcupine.Operation{ClientId: int(l.Process), Input: p.in, Call: p.call, Output: out, Return: l.Time})
		case "fail":
			delete(open, l.Process) // did not happen
			nFail++
		case "info":
			p := open[l.Process]
			delete(open, l.Process)
			if l.F == "read" {
				nInfoRead++ // a crashed read constrains nothing
				continue
			}
			p.in.crashed = true
			crashed = append(crashed, porcupine.Operation{ClientId: int(l.Process), Input: p.in, Call: p.call})
		}
	}
	if err := sc.Err(); err != nil {
		panic(err)
	}
	for _, p := range open { // never completed: crashed
		if p.in.f != 'r' {
			p.in.crashed = true
			crashed = append(crashed, porcupine.Operation{Input: p.in, Call: p.call})
		}
	}
	for _, c := range crashed {
		c.Return = maxTime + 1 // after everything
		ops = append(ops, c)
	}

	model := porcupine.Model{
		Init: func() interface{} { return int64(nilVal) },
		Step: func(state, in, out interface{}) (bool, interface{}) {
			s, i := state.(int64), in.(input)
			switch i.f {
			case 'r':
				return out.(int64) == s, s
			case 'w':
				return true, i.a
			default: // cas
				if s == i.a {
					return true, i.b
				}
				return i.crashed, s
			}
		},
		Equal: func(a, b interface{}) bool { return a.(int64) == b.(int64) },
		Hash:  func(s interface{}) uint64 { return uint64(s.(int64)) },
	}
	start := time.Now()
	res := porcupine.CheckOperationsTimeout(model, ops, timeout)
	fmt.Printf("%s  ops=%d (crashed %d; dropped: fail %d, crashed reads %d)  check %.2f s\n",
		res, len(ops), len(crashed), nFail, nInfoRead, time.Since(start).Seconds())
}
