package doctor

// The modes judged: serve (Linux only) and serve-vm. On Linux serve is the
// main one (Report.Modes lists it first).
const (
	ModeServe   = "serve"
	ModeServeVM = "serve-vm"
)

// serveOnly and vmOnly are the Impact maps of checks one mode needs.
func serveOnly(i Impact) map[string]Impact { return map[string]Impact{ModeServe: i} }
func vmOnly(i Impact) map[string]Impact    { return map[string]Impact{ModeServeVM: i} }

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}
