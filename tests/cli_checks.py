"""Assertions shared by the command-line tests."""


def one_line_error(capsys, *parts):
    """The captured stderr is one ``hdpmusic: error: ...`` line holding every part."""
    err = capsys.readouterr().err
    assert err.startswith("hdpmusic: error: ") and err.count("\n") == 1, err
    for part in parts:
        assert part in err, err
    return err
