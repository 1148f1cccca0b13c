package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestExecute(t *testing.T) {
	tests := []struct {
		name       string
		code       string
		input      string
		wantResult string
		wantPrints []string
	}{
		{name: "arithmetic", code: "result = 6 * 7", wantResult: `42`},
		{name: "no result is null", code: "x = 1", wantResult: `null`},
		{name: "input is None when absent", code: "result = input == None", wantResult: `true`},
		{name: "input round trip keeps order, big ints and floats",
			input:      `{"z":[1,2.5,"x",null,true,false],"a":{"n":123456789012345678901234567890},"e":1e3,"m":-0}`,
			code:       "result = input",
			wantResult: `{"z":[1,2.5,"x",null,true,false],"a":{"n":123456789012345678901234567890},"e":1000.0,"m":0}`},
		{name: "json module round trip",
			input:      `{"k":[1,{"v":"w"}]}`,
			code:       "result = json.decode(json.encode(input))",
			wantResult: `{"k":[1,{"v":"w"}]}`},
		{name: "float stays a float", code: "result = [1.0, 0.5, 1e300]", wantResult: `[1.0,0.5,1e+300]`},
		{name: "tuple is an array", code: "result = (1, 'a')", wantResult: `[1,"a"]`},
		{name: "string escapes", code: `result = "q\"<\n\x00"`, wantResult: `"q\"\u003c\n\u0000"`},
		{name: "print is collected", code: "print('hi', 1)\nprint('there')",
			wantResult: `null`, wantPrints: []string{"hi 1", "there"}},
		{name: "top-level loops, while and reassignment",
			code:       "result = 0\nfor i in range(10):\n  result += i\nn = 0\nwhile n < 3:\n  n += 1\nresult = [result, n]",
			wantResult: `[45,3]`},
		{name: "input is mutable", input: `{"a":1}`, code: "input['b'] = 2\nresult = input",
			wantResult: `{"a":1,"b":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := runInput{Code: tt.code}
			if tt.input != "" {
				in.Input = json.RawMessage(tt.input)
			}
			out, err := execute(in, nil)
			if err != nil {
				t.Fatalf("execute: %v", err)
			}
			if string(out.Result) != tt.wantResult {
				t.Errorf("result = %s, want %s", out.Result, tt.wantResult)
			}
			if !json.Valid(out.Result) {
				t.Errorf("result %q is not valid JSON", out.Result)
			}
			if out.Prints == nil {
				t.Fatal("prints is nil, want an array")
			}
			if strings.Join(out.Prints, "|") != strings.Join(tt.wantPrints, "|") {
				t.Errorf("prints = %q, want %q", out.Prints, tt.wantPrints)
			}
		})
	}
}

func TestExecuteRefuses(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1)
	tests := []struct {
		name    string
		code    string
		input   string
		want    error
		wantMsg string
	}{
		{name: "infinite for loop", code: "for i in range(1000000000000):\n  pass", want: errScript, wantMsg: "too many steps"},
		{name: "while True", code: "while True:\n  pass", want: errScript, wantMsg: "too many steps"},
		{name: "infinite loop inside a function", code: "def f():\n  while True:\n    pass\nf()",
			want: errScript, wantMsg: "too many steps"},
		{name: "recursion", code: "def f(n):\n  return f(n + 1)\nresult = f(0)", want: errScript, wantMsg: "called recursively"},
		{name: "mutual recursion", code: "def f(n):\n  return g(n)\ndef g(n):\n  return f(n)\nf(0)",
			want: errScript, wantMsg: "called recursively"},
		{name: "load of another module", code: `load("secrets.star", "x")`, want: errScript, wantMsg: "load is not available"},
		{name: "string repeat bomb", code: `x = "a" * (1 << 30)`, want: errScript, wantMsg: "excessive repeat"},
		{name: "list repeat bomb", code: `x = [0] * (1 << 40)`, want: errScript, wantMsg: "too large"},
		{name: "http_get without the http tool", code: `http_get("https://example.org/")`,
			want: errScript, wantMsg: "undefined: http_get"},
		{name: "code over 64 KiB", code: "#" + strings.Repeat("a", maxCodeBytes), want: errCodeTooLarge},
		{name: "syntax error names the position", code: "x = (", want: errScript, wantMsg: "main.star:1:"},
		{name: "runtime error names the position", code: "x = 1\ny = x + 'a'", want: errScript, wantMsg: "main.star:2:7: unknown binary op"},
		{name: "function as result", code: "def f():\n  pass\nresult = f", want: errResult, wantMsg: "function"},
		{name: "builtin as result", code: "result = len", want: errResult},
		{name: "module as result", code: "result = json", want: errResult},
		{name: "set as result", code: "result = set([1])", want: errResult},
		{name: "range as result", code: "result = range(1000000000)", want: errResult},
		{name: "bytes as result", code: `result = b"x"`, want: errResult},
		{name: "cyclic list result", code: "x = []\nx.append(x)\nresult = x", want: errResult, wantMsg: "nested deeper"},
		{name: "cyclic dict result", code: "x = {}\nx['x'] = x\nresult = x", want: errResult, wantMsg: "nested deeper"},
		{name: "non-string dict key", code: "result = {1: 2}", want: errResult, wantMsg: "key of type int"},
		{name: "NaN result", code: `result = float("nan")`, want: errResult, wantMsg: "non-finite"},
		{name: "infinite result", code: `result = float("inf")`, want: errResult, wantMsg: "non-finite"},
		{name: "result over 1 MiB", code: `result = ["a" * 1024] * 2048`, want: errResult, wantMsg: "over"},
		{name: "input nested too deep", code: "result = 1", input: deep, want: errInput, wantMsg: "nested deeper"},
		{name: "input float out of range", code: "result = 1", input: `1e999`, want: errInput, wantMsg: "out of float range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := runInput{Code: tt.code}
			if tt.input != "" {
				in.Input = json.RawMessage(tt.input)
			}
			_, err := execute(in, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), "starlark: ") {
				t.Errorf("error = %q, want the package prefix", err)
			}
		})
	}
}

func TestErrorMessageTruncated(t *testing.T) {
	_, err := execute(runInput{Code: `fail("x" * 100000)`}, nil)
	if !errors.Is(err, errScript) {
		t.Fatalf("error = %v, want errScript", err)
	}
	prefix := "starlark: " + errScript.Error() + ": "
	if n := len(err.Error()) - len(prefix); n > maxErrorBytes || n < maxErrorBytes-4 {
		t.Errorf("message is %d bytes after the prefix, want about %d", n, maxErrorBytes)
	}
}

func TestPrintFlood(t *testing.T) {
	tests := []struct {
		name      string
		code      string
		wantLines int
		wantBytes int
	}{
		{name: "many lines", code: "for i in range(100000):\n  print(i)", wantLines: maxPrintLines},
		{name: "one huge line", code: `print("x" * (1 << 20))`, wantLines: 1, wantBytes: maxPrintBytes},
		{name: "huge lines", code: "for i in range(1000):\n  print('y' * 10000)", wantLines: 7, wantBytes: maxPrintBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := execute(runInput{Code: tt.code}, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, l := range out.Prints {
				n += len(l)
			}
			if len(out.Prints) != tt.wantLines {
				t.Errorf("kept %d lines, want %d", len(out.Prints), tt.wantLines)
			}
			if n > maxPrintBytes || (tt.wantBytes != 0 && n != tt.wantBytes) {
				t.Errorf("kept %d bytes, want %d (at most %d)", n, tt.wantBytes, maxPrintBytes)
			}
		})
	}
}

// fakeGet records the URLs it is asked for and answers with answer.
type fakeGet struct {
	urls   []string
	answer func(url string) (int, []byte, error)
}

func (f *fakeGet) get(url string) (int, []byte, error) {
	f.urls = append(f.urls, url)
	return f.answer(url)
}

func TestHTTPGet(t *testing.T) {
	ok := func(string) (int, []byte, error) { return 200, []byte(`{"v": 7}`), nil }
	refuse := func(string) (int, []byte, error) {
		return 0, nil, errors.New("host: forbidden: host function http_request not granted")
	}
	tests := []struct {
		name       string
		code       string
		answer     func(string) (int, []byte, error)
		wantResult string
		wantErr    string
		wantURLs   int
	}{
		{name: "get and decode", answer: ok, wantURLs: 1,
			code:       "r = http_get('https://api.example.org/x')\nresult = [r['status'], json.decode(r['body'])]",
			wantResult: `[200,{"v":7}]`},
		{name: "url as keyword", answer: ok, wantURLs: 1,
			code: "result = http_get(url='http://api.example.org/')['status']", wantResult: `200`},
		{name: "invalid UTF-8 body becomes replacement characters in the result", wantURLs: 1,
			answer: func(string) (int, []byte, error) { return 200, []byte("a\xffb"), nil },
			code:   "result = http_get('https://api.example.org/')['body']", wantResult: `"a\ufffdb"`},
		{name: "host refuses egress", answer: refuse, wantURLs: 1,
			code: "http_get('https://evil.example/')", wantErr: "in http_get: host: forbidden"},
		{name: "file URL", answer: ok, code: "http_get('file:///etc/passwd')", wantErr: "absolute http or https"},
		{name: "relative URL", answer: ok, code: "http_get('/metadata')", wantErr: "absolute http or https"},
		{name: "not a string", answer: ok, code: "http_get(1)", wantErr: "http_get: for parameter url"},
		{name: "request flood", answer: ok, wantURLs: maxHTTPCalls,
			code: "for i in range(1000):\n  http_get('https://api.example.org/')", wantErr: "more than 32 calls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeGet{answer: tt.answer}
			out, err := execute(runInput{Code: tt.code}, f.get)
			if len(f.urls) != tt.wantURLs {
				t.Errorf("host asked %d times, want %d", len(f.urls), tt.wantURLs)
			}
			if tt.wantErr != "" {
				if !errors.Is(err, errScript) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want a script error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(out.Result) != tt.wantResult {
				t.Errorf("result = %s, want %s", out.Result, tt.wantResult)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short", "abc", 5, "abc"},
		{"cut", "abcdef", 3, "abc"},
		{"multibyte rune not split", "aé", 2, "a"},
		{"invalid byte replaced then cut", "a\xff\xffb", 4, "a\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncate(tt.in, tt.n); got != tt.want {
				t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

// FuzzJSONRoundTrip checks that any input the host could pass (any JSON
// value) converts to Starlark and back without a panic, and that a value
// that converted once converts back to the same JSON again.
func FuzzJSONRoundTrip(f *testing.F) {
	for _, s := range []string{`null`, `{"a":[1,2.5,"x",true]}`, `123456789012345678901234567890`,
		`[[[[]]]]`, `{"a":1,"a":2}`, `"\u00e9\ud800"`, `-0.0e-7`, `1e999`, ``, `[1,]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := fromJSON(data)
		if err != nil {
			return
		}
		first, err := toJSON(v)
		if err != nil {
			t.Fatalf("toJSON of converted input %q: %v", data, err)
		}
		if !json.Valid(first) {
			t.Fatalf("toJSON produced invalid JSON %q", first)
		}
		v2, err := fromJSON(first)
		if err != nil {
			t.Fatalf("fromJSON of own output %q: %v", first, err)
		}
		second, err := toJSON(v2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("round trip changed %q to %q", first, second)
		}
	})
}

// FuzzExecute runs arbitrary code under a small step limit: whatever the
// code, execute returns an error or valid JSON, never a panic.
func FuzzExecute(f *testing.F) {
	for _, s := range []string{"result = 1", "while True: pass", "def f(): f()\nf()", "result = [x for x in range(9)]",
		`result = json.decode('{"a": [1]}')`, "load('x', 'y')", "print(input)", "x = (", "result = {1: 2}"} {
		f.Add(s, `{"k":[1,"v"]}`)
	}
	f.Fuzz(func(t *testing.T, code, input string) {
		in := runInput{Code: code}
		if json.Valid([]byte(input)) {
			in.Input = json.RawMessage(input)
		}
		out, err := executeSteps(in, nil, 10_000)
		if err != nil {
			return
		}
		if !json.Valid(out.Result) {
			t.Fatalf("result %q is not valid JSON", out.Result)
		}
		if len(out.Prints) > maxPrintLines {
			t.Fatalf("%d print lines kept", len(out.Prints))
		}
	})
}
