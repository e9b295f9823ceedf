"""The attribute of the Go tools the rules run."""

def tool_attr(label):
    """An exec-configuration executable attribute defaulting to label.

    Args:
      label: the tool's Label, such as Label("//cmd/deb_runtime").

    Returns:
      The attribute. It also accepts a prebuilt file, as test/rules gives
      one: that test runs without rules_go.
    """
    return attr.label(
        doc = "The %s tool." % label.name,
        default = label,
        executable = True,
        allow_files = True,
        cfg = "exec",
    )
