"""The CLI's output helpers without containers: the Go-template subset
(docker's documented ``--format`` examples), tables, sizes and times."""
import pytest

from pycontainer.cli import output
from pycontainer.cli.listing import ContainerRow, status
from pycontainer.cli.template import Template, TemplateError

INSPECT = {
    "Name": "/web", "State": {"Status": "running", "Running": True, "Pid": 42},
    "Config": {"Image": "busybox", "Labels": {"com.example.version": "1.0", "a": "b"},
               "Env": ["A=1", "B=2"]},
    "NetworkSettings": {
        "Networks": {"app": {"IPAddress": "10.0.0.2", "MacAddress": "02:42:0a:00:00:02"},
                     "bridge": {"IPAddress": "172.17.0.2", "MacAddress": ""}},
        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "81/tcp": None}},
    "HostConfig": {"Memory": 67108864, "ReadonlyRootfs": False},
}


def render(text, dot=INSPECT):
    return Template(text).execute(dot)


@pytest.mark.parametrize("text, want", [
    ("{{.Name}}", "/web"),
    ("{{.State.Running}} {{.State.Pid}}", "true 42"),
    ("{{.Config.Image}}", "busybox"),
    ("{{json .Config.Labels}}", '{"com.example.version":"1.0","a":"b"}'),
    ("{{json .HostConfig}}", '{"Memory":67108864,"ReadonlyRootfs":false}'),
    ('{{index .Config.Labels "com.example.version"}}', "1.0"),
    ("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", "10.0.0.2 172.17.0.2 "),
    ("{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{$conf}};{{end}}",
     "80/tcp -> [map[HostIp:0.0.0.0 HostPort:8080]];81/tcp -> <nil>;"),
    ('{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}', "8080"),
    ("{{.Config.Labels}}", "map[a:b com.example.version:1.0]"),
    ("{{.Config.Env}}", "[A=1 B=2]"),
    ("{{.Nope}}", "<no value>"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if not .HostConfig.ReadonlyRootfs}}rw{{end}}", "rw"),
    ('{{if eq .State.Status "exited"}}x{{else if eq .State.Status "running"}}r{{end}}', "r"),
    ("{{with .Config}}{{.Image}}{{end}}", "busybox"),
    ('{{join .Config.Env ","}}', "A=1,B=2"),
    ("{{len .Config.Env}} {{upper .Config.Image}} {{.Config.Image | upper}}",
     "2 BUSYBOX BUSYBOX"),
    ('{{printf "%s has %d vars" .Config.Image (len .Config.Env)}}', "busybox has 2 vars"),
    ("{{- .Name -}}  \n", "/web"),
    ("a {{- /* comment */ -}} b", "ab"),
    ("{{$n := .Name}}{{$n}}", "/web"),
    ("{{range .Config.Env}}{{.}}{{else}}none{{end}}|{{range .Missing}}x{{else}}none{{end}}",
     "A=1B=2|none"),
    ('{{split "a:b" ":"}}', "[a b]"),
])
def test_docker_formats(text, want):
    assert render(text) == want


@pytest.mark.parametrize("text", ["{{.Name", "{{if .Name}}x", "{{end}}", "{{nosuch .Name}}",
                                  "{{range}}{{end}}", "{{template \"x\"}}"])
def test_bad_templates_raise(text):
    with pytest.raises(TemplateError):
        render(text)


def test_methods_of_row_contexts_take_arguments():
    attrs = {"Id": "f" * 64, "Name": "/web", "Created": "2024-05-01T12:00:00.123456789Z",
             "Config": {"Image": "busybox", "Labels": {"app": "x"}},
             "State": {"Status": "exited", "ExitCode": 3, "FinishedAt": "2024-05-01T12:00:00Z"},
             "Runtime": {"Config": {"argv": ["sh", "-c", "echo a very long command line"],
                                    "mounts": [{"Type": "volume", "Name": "data"}]}}}
    row = ContainerRow(attrs, now=output.epoch("2024-05-01T14:00:00Z"))
    assert render('{{.Label "app"}} {{.ID}} {{.Mounts}} {{.LocalVolumes}}', row) == \
        "x ffffffffffff data 1"
    assert row.Command == '"sh -c echo a very l…"'
    assert row.Status == "Exited (3) 2 hours ago"
    assert row.RunningFor == "2 hours ago"
    assert render("{{json .}}", row).startswith('{"Command":"\\"sh -c echo a very l…\\""')


def test_table_formats_align_as_docker():
    rows = [{"ID": "abc", "Name": "web"}, {"ID": "abcdefabcdefab", "Name": "x"}]
    text = []

    class Out:
        def write(self, s):
            text.append(s)
    output.render("table {{.ID}}\\t{{.Name}}", rows, "", {"ID": "CONTAINER ID"}, Out())
    assert "".join(text) == ("CONTAINER ID     NAME\n"
                             "abc              web\n"
                             "abcdefabcdefab   x\n")
    text.clear()
    output.render("json", rows, "", {}, Out())
    assert "".join(text) == '{"ID":"abc","Name":"web"}\n{"ID":"abcdefabcdefab","Name":"x"}\n'


@pytest.mark.parametrize("n, want", [(0, "0B"), (999, "999B"), (1500, "1.5kB"),
                                     (4_260_000, "4.26MB"), (12_000_000_000, "12GB")])
def test_human_size(n, want):
    assert output.human_size(n) == want


def test_bytes_size():
    assert output.bytes_size(512 * 1024) == "512KiB"
    assert output.bytes_size(int(1.5 * 1024 ** 2)) == "1.5MiB"


@pytest.mark.parametrize("secs, want", [(0.5, "Less than a second"), (1, "1 second"),
                                        (59, "59 seconds"), (60, "About a minute"),
                                        (180, "3 minutes"), (3600, "About an hour"),
                                        (7200, "2 hours"), (3 * 86400, "3 days"),
                                        (20 * 86400, "2 weeks"), (90 * 86400, "3 months"),
                                        (800 * 86400, "2 years")])
def test_human_duration(secs, want):
    assert output.human_duration(secs) == want


def test_status_column():
    now = output.epoch("2024-05-01T12:03:00Z")
    assert status({"Status": "running", "StartedAt": "2024-05-01T12:00:00Z"}, now) == \
        "Up 3 minutes"
    assert status({"Status": "paused", "Paused": True, "StartedAt": "2024-05-01T12:00:00Z"},
                  now) == "Up 3 minutes (Paused)"
    assert status({"Status": "created"}, now) == "Created"


def test_epoch_reads_nanoseconds_and_zones():
    assert output.epoch("1970-01-01T00:00:01.5Z") == 1.5
    assert output.epoch("1970-01-01T02:00:00+02:00") == 0
    assert output.epoch("0001-01-01T00:00:00Z") is None
    assert output.epoch("") is None
