"""Where libclang and clang's resource headers come from, and the raw C entry points we use.

libclang comes from the pinned `libclang` wheel. That wheel ships no resource headers (stddef.h,
stdarg.h, the x86 intrinsics), and gcc's are no substitute: clang cannot parse gcc's intrinsics
headers. The pinned `clang-tidy` wheel carries clang's resource directory of the same major
version, so by default it is used as `-resource-dir`. QLINT_CLANG_RESOURCE_DIR overrides it (for
example with `clang -print-resource-dir` of a system clang of the same major version).

The extractor calls libclang through its own ctypes handle with exact signatures: the stock
Python bindings wrap every result in Python objects, which costs more than the parse on a large
translation unit. The stock bindings are used only to create the index and parse.
"""
from __future__ import annotations

import ctypes
import os
from functools import lru_cache

from ..errors import QlintError

LIBCLANG_MAJOR = 18


def clang_module():
    try:
        from clang import cindex
    except ImportError:  # pragma: no cover - the dependency is pinned
        raise QlintError("libclang Python bindings not found: pip install libclang==18.1.1") from None
    return cindex


@lru_cache(maxsize=None)
def resource_dir() -> str:
    override = os.environ.get("QLINT_CLANG_RESOURCE_DIR")
    if override:
        if not os.path.isfile(os.path.join(override, "include", "stddef.h")):
            raise QlintError(f"QLINT_CLANG_RESOURCE_DIR={override}: no include/stddef.h there")
        return override
    try:
        import clang_tidy
    except ImportError:
        raise QlintError("clang resource headers not found: pip install clang-tidy==18.1.8 "
                         "or set QLINT_CLANG_RESOURCE_DIR") from None
    path = os.path.join(os.path.dirname(clang_tidy.__file__), "data", "lib", "clang",
                        str(LIBCLANG_MAJOR))
    if not os.path.isfile(os.path.join(path, "include", "stddef.h")):
        raise QlintError(f"clang resource headers missing under {path}")
    return path


def libclang_version() -> str:
    ci = clang_module()
    lib = raw()
    return lib.string(lib.clang_getClangVersion()) + " " + os.path.basename(ci.conf.get_filename())


class CXString(ctypes.Structure):
    """libclang's CXString, freed explicitly by _Raw.string (the stock bindings' class frees
    itself in __del__, which would free twice)."""
    _fields_ = [("data", ctypes.c_void_p), ("flags", ctypes.c_uint)]


class _Raw:
    """libclang's C functions with the signatures the extractor needs."""

    def __init__(self):
        ci = clang_module()
        self.Cursor = ci.Cursor
        self.SourceLocation = ci.SourceLocation
        self.SourceRange = ci.SourceRange
        self.Type = ci.Type
        self.Token = ci.Token
        self.visitor_type = ctypes.CFUNCTYPE(ctypes.c_int, ci.Cursor, ci.Cursor, ctypes.py_object)
        lib = ctypes.CDLL(ci.conf.get_filename())
        C, L, R, T, S = ci.Cursor, ci.SourceLocation, ci.SourceRange, ci.Type, CXString
        u, i, vp = ctypes.c_uint, ctypes.c_int, ctypes.c_void_p
        pu = ctypes.POINTER(ctypes.c_uint)
        sigs = {
            "clang_visitChildren": ([C, self.visitor_type, ctypes.py_object], u),
            "clang_getCursorKind": ([C], i),
            "clang_hashCursor": ([C], u),
            "clang_getCursorLocation": ([C], L),
            "clang_getCursorExtent": ([C], R),
            "clang_getRangeEnd": ([R], L),
            "clang_getRangeStart": ([R], L),
            "clang_equalCursors": ([C, C], u),
            "clang_Location_isFromMainFile": ([L], i),
            "clang_Location_isInSystemHeader": ([L], i),
            "clang_isCursorDefinition": ([C], u),
            "clang_getCursorSpelling": ([C], S),
            "clang_getCursorReferenced": ([C], C),
            "clang_getCursorDefinition": ([C], C),
            "clang_getCursorSemanticParent": ([C], C),
            "clang_getCursorLinkage": ([C], i),
            "clang_Cursor_isNull": ([C], i),
            "clang_getCursorType": ([C], T),
            "clang_getTypeSpelling": ([T], S),
            "clang_getCanonicalType": ([T], T),
            "clang_getPointeeType": ([T], T),
            "clang_getArrayElementType": ([T], T),
            "clang_getTypeDeclaration": ([T], C),
            "clang_Type_getNamedType": ([T], T),
            "clang_getExpansionLocation": ([L, ctypes.POINTER(vp), pu, pu, pu], None),
            "clang_getSpellingLocation": ([L, ctypes.POINTER(vp), pu, pu, pu], None),
            "clang_getFileName": ([vp], S),
            "clang_getCursorBinaryOperatorKind": ([C], i),
            "clang_getCursorUnaryOperatorKind": ([C], i),
            "clang_Cursor_getVarDeclInitializer": ([C], C),
            "clang_Cursor_hasVarDeclGlobalStorage": ([C], i),
            "clang_Cursor_hasAttrs": ([C], u),
            "clang_getFile": ([vp, ctypes.c_char_p], vp),
            "clang_getLocation": ([vp, vp, u, u], L),
            "clang_getCursor": ([vp, L], C),
            "clang_getToken": ([vp, L], ctypes.POINTER(ci.Token)),
            "clang_getLocationForOffset": ([vp, vp, u], L),
            "clang_getTokenSpelling": ([vp, ci.Token], S),
            "clang_disposeTokens": ([vp, ctypes.POINTER(ci.Token), u], None),
            "clang_getCString": ([S], ctypes.c_char_p),
            "clang_disposeString": ([S], None),
            "clang_getClangVersion": ([], S),
            "clang_getCursorPrettyPrinted": ([C, vp], S),
            "clang_getCanonicalCursor": ([C], C),
            "clang_getEnumConstantDeclValue": ([C], ctypes.c_longlong),
            "clang_getEnumDeclIntegerType": ([C], T),
            "clang_getFieldDeclBitWidth": ([C], i),
            "clang_Type_getSizeOf": ([T], ctypes.c_longlong),
            "clang_Cursor_Evaluate": ([C], vp),
            "clang_EvalResult_getKind": ([vp], i),
            "clang_EvalResult_getAsLongLong": ([vp], ctypes.c_longlong),
            "clang_EvalResult_getAsStr": ([vp], ctypes.c_char_p),
            "clang_EvalResult_dispose": ([vp], None),
        }
        for name, (argtypes, restype) in sigs.items():
            fn = getattr(lib, name)
            fn.argtypes = argtypes
            fn.restype = restype
            setattr(self, name, fn)

    def string(self, cxstring) -> str:
        value = self.clang_getCString(cxstring)
        self.clang_disposeString(cxstring)
        return value.decode("utf-8", "replace") if value else ""


@lru_cache(maxsize=None)
def raw() -> _Raw:
    return _Raw()
