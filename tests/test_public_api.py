import vigia


def test_all_names_the_public_api_and_each_name_exists() -> None:
    assert sorted(vigia.__all__) == sorted(set(vigia.__all__))
    for name in vigia.__all__:
        assert hasattr(vigia, name), name


def test_every_error_is_a_vigia_error_and_the_builtin_it_resembles() -> None:
    assert issubclass(vigia.GeometryError, ValueError)
    assert issubclass(vigia.UnreachableError, RuntimeError)
    for name in vigia.__all__:
        obj = getattr(vigia, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, vigia.VigiaError)
