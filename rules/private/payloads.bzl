"""The `payloads` argument shared by standalone_binary and payload_sections."""

# go/payload's names: 1 to 14 bytes of [a-z0-9_], so that "__<name>" fits a
# 16-byte Mach-O section name.
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"

def payload_labels(what, payloads):
    """Turns `payloads` (payload name -> label) into a rule's attribute value.

    Starlark has no attribute keyed by string with label values that every
    supported Bazel version knows (attr.string_keyed_label_dict is newer than
    Bazel 7), so the macros take the dict the way it reads, name -> label,
    and give the rules label -> name (attr.label_keyed_string_dict).

    Args:
      what: the target, for messages.
      payloads: a dict of payload name to the label of one file.

    Returns:
      A dict of label to payload name.
    """
    if type(payloads) != "dict":
        fail("%s: payloads must be a dict of payload name to label (a select() is not supported), got %s" % (what, type(payloads)))
    if not payloads:
        fail("%s: payloads is empty" % what)
    labels = {}
    for name, label in payloads.items():
        if len(name) < 1 or len(name) > 14 or [c for c in name.elems() if c not in _NAME_CHARS]:
            fail("%s: payload name %r is not 1 to 14 bytes of [a-z0-9_]" % (what, name))
        if label in labels:
            fail("%s: %s is given as two payloads, %s and %s" % (what, label, labels[label], name))
        labels[label] = name
    return labels

def payload_files(ctx, attr_name):
    """The payloads of a rule's label_keyed_string_dict attribute.

    Args:
      ctx: the rule context.
      attr_name: the attribute, mapping a label to a payload name.

    Returns:
      A list of (name, File), sorted by name.
    """
    by_name = {}
    for target, name in getattr(ctx.attr, attr_name).items():
        files = target.files.to_list()
        if len(files) != 1:
            fail("%s: payload %s (%s) must be exactly one file, got %d" % (ctx.label, name, target.label, len(files)))
        if name in by_name:
            fail("%s: two files for payload %s" % (ctx.label, name))
        by_name[name] = files[0]
    return [(name, by_name[name]) for name in sorted(by_name.keys())]

PAYLOAD_FILES_DOC = "Payload files, each mapped to its payload name. Set through the macro's `payloads` (name -> label)."
