"""A MongoDB wire-protocol test double over mongomock, for clients that only speak TCP (Omniboard's node
driver, pymongo in another process).

    python -m tests.omniboard.mongo_wire --port 27017        # until Ctrl-C
    with MongoWire() as server: pymongo.MongoClient(server.url("db"))

It listens on 127.0.0.1 only, presents itself as a standalone MongoDB 4.4 (wire version 9), answers OP_MSG
and the legacy OP_QUERY handshake, and runs each command against one in-memory ``mongomock.MongoClient``
(one lock: commands run one at a time). Commands it does not know are answered with CommandNotFound and
logged as ``UNKNOWN COMMAND`` on stderr. Test-only: nothing in ``src/`` or ``experiments/`` imports it.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import socket
import socketserver
import struct
import sys
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import bson
import mongomock
from bson import ObjectId
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from bson.int64 import Int64
from mongomock import aggregate as mm_aggregate
from mongomock import filtering as mm_filtering

log = logging.getLogger("mongo_wire")

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
HEADER = struct.Struct("<iiii")
CODEC = CodecOptions(tz_aware=False, uuid_representation=UuidRepresentation.STANDARD)
MAX_BSON = 16 * 1024 * 1024
BATCH_BYTES = 8 * 1024 * 1024  # a reply batch stops growing past this (a real server: 16 MiB)
# Fields of a command that only steer the server (sessions, read/write concerns, API versions).
GENERIC_FIELDS = {"$db", "lsid", "$readPreference", "$clusterTime", "txnNumber", "autocommit", "startTransaction",
                  "writeConcern", "readConcern", "apiVersion", "apiStrict", "apiDeprecationErrors", "comment",
                  "maxTimeMS", "$query", "$client"}


class CommandError(Exception):
    """A command failure answered as ``{ok: 0, errmsg, code, codeName}``."""

    def __init__(self, message: str, code: int = 2, code_name: str = "BadValue") -> None:
        super().__init__(message)
        self.code, self.code_name = code, code_name


_patch_lock = threading.Lock()
_patch_users = 0
_originals: list[tuple[Any, str, Any]] = []


def _patch_mongomock(on: bool) -> None:
    """Patch mongomock while a MongoWire runs (restored when the last one stops), so that other tests' mongomock
    is untouched: aggregation that Omniboard 2.16.1 uses and mongomock 4.3 lacks or gets wrong, namely ``$lookup``
    with ``let`` and ``pipeline`` (the metric columns' join), ``$toObjectId``, ``$reduce``, ``$split`` of a
    missing value (null), ``$addFields`` of a missing value (removes the field, as MongoDB does, where mongomock
    kept the old value) and short-circuit ``$and`` / ``$or``."""
    global _patch_users
    with _patch_lock:
        _patch_users += 1 if on else -1
        if on and _patch_users == 1:
            for owner, name, value in _replacements():
                _originals.append((owner, name, getattr(owner, name)))
                setattr(owner, name, value)
        elif not on and _patch_users == 0:
            while _originals:
                setattr(*_originals.pop())


def _replacements() -> list[tuple[Any, str, Any]]:
    """(owner, attribute, new value) for _patch_mongomock, built on mongomock's own functions."""
    plain_lookup = mm_aggregate._PIPELINE_HANDLERS["$lookup"]

    def lookup(in_collection: list[dict], database: Any, options: dict) -> list[dict]:
        if "pipeline" not in options:
            return plain_lookup(in_collection, database, options)
        foreign = list(database.get_collection(options["from"]).find())
        indexes: dict[str, dict[Any, list[dict]]] = {}  # field -> value -> foreign documents
        out = []
        for doc in in_collection:
            variables = {name: _value(doc, expr) for name, expr in options.get("let", {}).items()}
            pipeline = _substitute(options["pipeline"], variables)
            candidates = foreign
            for field, value in _equalities(pipeline):  # only a speed-up: the $match still runs on them
                if field not in indexes:
                    indexes[field] = {}
                    for item in foreign:
                        indexes[field].setdefault(_key(item.get(field)), []).append(item)
                candidates = indexes[field].get(_key(value), [])
                break
            if "localField" in options:
                local = doc.get(options["localField"])
                pipeline = [{"$match": {options["foreignField"]: local}}, *pipeline]
            out.append(dict(doc, **{options["as"]: list(mm_aggregate.process_pipeline(
                [dict(item) for item in candidates], database, pipeline, None))}))
        return out

    parse_convert = mm_aggregate._Parser._handle_type_convertion_operator

    def convert(self: Any, operator: str, values: Any) -> Any:
        if operator == "$toObjectId":
            value = self._parse_or_nothing(values)
            value = None if value is mm_aggregate.NOTHING else value
            return None if value is None else value if isinstance(value, ObjectId) else ObjectId(value)
        return parse_convert(self, operator, values)

    parse_array = mm_aggregate._Parser._handle_array_operator

    def array(self: Any, operator: str, value: Any) -> Any:
        if operator != "$reduce":
            return parse_array(self, operator, value)
        items, result = self.parse(value["input"]), self.parse(value["initialValue"])
        if items is None:
            return None
        for item in items:
            result = mm_aggregate._Parser(self._doc_dict, dict(self._user_vars, value=result, this=item),
                                          self._ignore_missing_keys).parse(value["in"])
        return result

    parse_string = mm_aggregate._Parser._handle_string_operator

    def string(self: Any, operator: str, values: Any) -> Any:
        if operator == "$split" and self.parse(values[0]) is None:
            return None
        return parse_string(self, operator, values)

    def add_fields(in_collection: list[dict], database: Any, options: dict) -> list[dict]:
        out_collection = [dict(doc) for doc in in_collection]
        for field, expression in options.items():
            *parents, last = field.split(".")
            for in_doc, out_doc in zip(in_collection, out_collection, strict=True):
                try:
                    value, missing = mm_aggregate._Parser(in_doc, ignore_missing_keys=True).parse(expression), False
                except KeyError:
                    value, missing = None, True
                for name in parents:
                    out_doc[name] = dict(out_doc[name]) if isinstance(out_doc.get(name), dict) else {}
                    out_doc = out_doc[name]
                if missing:
                    out_doc.pop(last, None)
                else:
                    out_doc[last] = value
        return out_collection

    parse_boolean = mm_aggregate._Parser._handle_boolean_operator

    def boolean(self: Any, operator: str, values: Any) -> Any:
        if operator == "$and":
            return all(self._parse_to_bool(value) for value in values)
        if operator == "$or":
            return any(self._parse_to_bool(value) for value in values)
        return parse_boolean(self, operator, values)

    handlers = {**mm_aggregate._PIPELINE_HANDLERS, "$lookup": lookup, "$addFields": add_fields, "$set": add_fields}
    parser = mm_aggregate._Parser
    return [(mm_aggregate, "_PIPELINE_HANDLERS", handlers), (parser, "_handle_boolean_operator", boolean),
            (parser, "_handle_string_operator", string), (parser, "_handle_array_operator", array),
            (parser, "_handle_type_convertion_operator", convert),
            (mm_aggregate, "type_convertion_operators", [*mm_aggregate.type_convertion_operators, "$toObjectId"])]


def _value(doc: dict, expression: Any) -> Any:
    """An aggregation expression's value for ``doc``; None where MongoDB has "missing"."""
    try:
        return mm_aggregate._Parser(doc).parse(expression)
    except KeyError:
        return None


def _equalities(pipeline: list[dict]) -> list[tuple[str, Any]]:
    """(top-level field, value) pairs that a ``$lookup`` sub-pipeline's first ``$match`` requires through
    ``$expr`` ``{$eq: ["$field", {$literal: value}]}`` (alone or in a top-level ``$and``), value hashable and not
    null."""
    match = pipeline[0].get("$match") if pipeline and isinstance(pipeline[0], dict) else None
    expr = match.get("$expr") if isinstance(match, dict) else None
    terms = expr.get("$and", [expr]) if isinstance(expr, dict) else []
    found = []
    for term in terms:
        pair = term.get("$eq") if isinstance(term, dict) else None
        if isinstance(pair, list) and len(pair) == 2:
            for field, literal in (pair, pair[::-1]):
                if isinstance(field, str) and field.startswith("$") and not field.startswith("$$") and \
                        "." not in field and isinstance(literal, dict) and literal.get("$literal") is not None \
                        and _key(literal["$literal"]) is not _UNHASHABLE:
                    found.append((field[1:], literal["$literal"]))
    return found


def _key(value: Any) -> Any:
    """``value`` as a dict key; unhashable values (documents, arrays) share one key that no literal has."""
    try:
        hash(value)
        return value
    except TypeError:
        return _UNHASHABLE


_UNHASHABLE = object()


def _substitute(value: Any, variables: dict[str, Any]) -> Any:
    """``value`` with every ``"$$name"`` of ``variables`` replaced by its value (as a ``$literal``)."""
    if isinstance(value, str) and value.startswith("$$") and value[2:] in variables:
        return {"$literal": variables[value[2:]]}
    if isinstance(value, dict):
        return {key: _substitute(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, variables) for item in value]
    return value


class MongoWire:
    """The server: ``start()`` then ``stop()``, once each (or ``with``), ``port``, ``url(db)``, and what it saw
    (``commands``: a Counter of command names; ``unknown``: commands it could not answer)."""

    def __init__(self, port: int = 0, client: mongomock.MongoClient | None = None, host: str = "127.0.0.1") -> None:
        self.client = client if client is not None else mongomock.MongoClient()
        self.commands: Counter[str] = Counter()
        self.unknown: list[str] = []
        self._lock = threading.RLock()
        self._cursors: dict[int, tuple[str, list[dict]]] = {}
        self._cursor_ids = itertools.count(1)
        self._connection_ids = itertools.count(1)
        self._sockets: set[socket.socket] = set()
        self._server = _TCPServer((host, port), _Handler)  # loopback, except inside a container (check-compose)
        self._server.wire = self
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[str, dict], dict]] = {
            "hello": self._hello, "ismaster": self._hello, "ping": self._ok, "endsessions": self._ok,
            "buildinfo": self._build_info, "getlasterror": self._ok, "whatsmyuri": self._whatsmyuri,
            "getparameter": self._ok, "serverstatus": self._server_status, "hostinfo": self._ok,
            "getcmdlineopts": self._cmd_line, "getfreemonitoringstatus": self._ok, "listdatabases": self._list_dbs,
            "listcollections": self._list_collections, "listindexes": self._list_indexes,
            "createindexes": self._create_indexes, "dropindexes": self._drop_indexes, "create": self._create,
            "drop": self._drop, "dropdatabase": self._drop_database, "insert": self._insert, "find": self._find,
            "getmore": self._get_more, "killcursors": self._kill_cursors, "update": self._update,
            "delete": self._delete, "count": self._count, "aggregate": self._aggregate,
            "distinct": self._distinct, "findandmodify": self._find_and_modify, "collstats": self._coll_stats,
            "dbstats": self._db_stats, "connectionstatus": self._connection_status,
        }

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, database: str = "test") -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}"

    def start(self) -> MongoWire:
        if self._thread is None:
            _patch_mongomock(True)
            self._thread = threading.Thread(target=self._server.serve_forever, name="mongo_wire", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        for sock in list(self._sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        self._thread = None
        _patch_mongomock(False)

    def __enter__(self) -> MongoWire:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- dispatch -------------------------------------------------------------------------------------------

    def run_command(self, database: str, command: dict) -> dict:
        """Answer one command document (its first key names it) for ``database``."""
        name = next(iter(command), "")
        key = name.lower()
        self.commands[name] += 1
        handler = self._handlers.get(key)
        if handler is None:
            self.unknown.append(name)
            log.warning("UNKNOWN COMMAND %r on %s: %s", name, database, _short(command))
            return {"ok": 0.0, "errmsg": f"no such command: '{name}'", "code": 59, "codeName": "CommandNotFound"}
        log.debug("%s.%s %s", database, name, _short(command))
        try:
            with self._lock:
                reply = handler(database, command)
        except CommandError as error:
            return {"ok": 0.0, "errmsg": str(error), "code": error.code, "codeName": error.code_name}
        except mongomock.OperationFailure as error:
            return {"ok": 0.0, "errmsg": str(error), "code": error.code or 2, "codeName": "OperationFailed"}
        except Exception as error:  # mongomock's gaps (NotImplementedError, TypeError...): loud, not fatal
            self.unknown.append(f"{name}: {error.__class__.__name__}: {error}")
            log.warning("UNSUPPORTED by mongomock: %s on %s: %s (%s: %s)", name, database, _short(command),
                        error.__class__.__name__, error, exc_info=log.isEnabledFor(logging.DEBUG))
            return {"ok": 0.0, "errmsg": f"mongo_wire: {error}", "code": 115, "codeName": "CommandNotSupported"}
        return {**reply, "ok": 1.0}

    def _collection(self, database: str, command: dict) -> Any:
        name = next(iter(command.values()))
        if not isinstance(name, str):
            raise CommandError(f"collection name must be a string, not {name!r}", 73, "InvalidNamespace")
        return self.client[database][name]

    def _cursor(self, database: str, collection: str, docs: list[dict], batch_size: int | None,
                single_batch: bool = False, key: str = "firstBatch") -> dict:
        ns = f"{database}.{collection}"
        batch, rest = _take(docs, batch_size)
        cursor_id = 0
        if rest and not single_batch:
            cursor_id = next(self._cursor_ids)
            self._cursors[cursor_id] = (ns, rest)
        return {"cursor": {key: batch, "id": Int64(cursor_id), "ns": ns}}

    # --- handshake and server state -------------------------------------------------------------------------

    def _hello(self, database: str, command: dict) -> dict:
        return {"helloOk": True, "ismaster": True, "isWritablePrimary": True, "maxBsonObjectSize": MAX_BSON,
                "maxMessageSizeBytes": 48_000_000, "maxWriteBatchSize": 100_000,
                "localTime": datetime.now(UTC), "logicalSessionTimeoutMinutes": 30,
                "connectionId": next(self._connection_ids), "minWireVersion": 0, "maxWireVersion": 9,
                "readOnly": False}

    def _ok(self, database: str, command: dict) -> dict:
        return {}

    def _build_info(self, database: str, command: dict) -> dict:
        return {"version": "4.4.0", "versionArray": [4, 4, 0, 0], "gitVersion": "mongo_wire", "bits": 64,
                "maxBsonObjectSize": MAX_BSON, "storageEngines": ["mongomock"], "modules": [], "debug": False}

    def _whatsmyuri(self, database: str, command: dict) -> dict:
        return {"you": "127.0.0.1"}

    def _server_status(self, database: str, command: dict) -> dict:
        return {"host": "127.0.0.1", "version": "4.4.0", "process": "mongo_wire", "uptime": 0.0}

    def _cmd_line(self, database: str, command: dict) -> dict:
        return {"argv": ["mongo_wire"], "parsed": {}}

    def _connection_status(self, database: str, command: dict) -> dict:
        return {"authInfo": {"authenticatedUsers": [], "authenticatedUserRoles": []}}

    # --- databases, collections, indexes --------------------------------------------------------------------

    def _list_dbs(self, database: str, command: dict) -> dict:
        names = self.client.list_database_names()
        if command.get("nameOnly"):
            return {"databases": [{"name": name} for name in names]}
        return {"databases": [{"name": name, "sizeOnDisk": 1.0, "empty": False} for name in names],
                "totalSize": float(len(names))}

    def _list_collections(self, database: str, command: dict) -> dict:
        entries = [{"name": name, "type": "collection", "options": {}, "info": {"readOnly": False}}
                   for name in sorted(self.client[database].list_collection_names())]
        query = command.get("filter") or {}
        entries = [entry for entry in entries if mm_filtering.filter_applies(query, entry)]
        if command.get("nameOnly"):
            entries = [{"name": entry["name"], "type": "collection"} for entry in entries]
        return self._cursor(database, "$cmd.listCollections", entries, _batch_size(command))

    def _list_indexes(self, database: str, command: dict) -> dict:
        collection = self._collection(database, command)
        if collection.name not in self.client[database].list_collection_names():
            raise CommandError(f"ns does not exist: {database}.{collection.name}", 26, "NamespaceNotFound")
        indexes = []
        for name, spec in collection.index_information().items():
            index = {"v": 2, "key": dict(spec["key"]), "name": name}
            index.update({k: v for k, v in spec.items() if k not in ("key", "v", "ns")})
            indexes.append(index)
        return self._cursor(database, collection.name, indexes, _batch_size(command))

    def _create_indexes(self, database: str, command: dict) -> dict:
        collection = self._collection(database, command)
        existed = collection.name in self.client[database].list_collection_names()
        before = len(collection.index_information()) if existed else 1
        for index in command["indexes"]:
            options = {k: v for k, v in index.items() if k in ("name", "unique", "sparse", "expireAfterSeconds",
                                                               "partialFilterExpression", "background")}
            collection.create_index(list(index["key"].items()), **options)
        return {"createdCollectionAutomatically": not existed, "numIndexesBefore": before,
                "numIndexesAfter": len(collection.index_information())}

    def _drop_indexes(self, database: str, command: dict) -> dict:
        collection = self._collection(database, command)
        before = len(collection.index_information())
        if command["index"] == "*":
            collection.drop_indexes()
        else:
            collection.drop_index(command["index"])
        return {"nIndexesWas": before}

    def _create(self, database: str, command: dict) -> dict:
        name = command["create"]
        if name in self.client[database].list_collection_names():
            raise CommandError(f"Collection already exists. NS: {database}.{name}", 48, "NamespaceExists")
        self.client[database].create_collection(name)
        return {}

    def _drop(self, database: str, command: dict) -> dict:
        name = command["drop"]
        if name not in self.client[database].list_collection_names():
            raise CommandError("ns not found", 26, "NamespaceNotFound")
        self.client[database].drop_collection(name)
        return {"ns": f"{database}.{name}", "nIndexesWas": 1}

    def _drop_database(self, database: str, command: dict) -> dict:
        self.client.drop_database(database)
        return {"dropped": database}

    def _coll_stats(self, database: str, command: dict) -> dict:
        collection = self._collection(database, command)
        count = collection.estimated_document_count()
        return {"ns": f"{database}.{collection.name}", "count": count, "size": count, "storageSize": count,
                "nindexes": len(collection.index_information())}

    def _db_stats(self, database: str, command: dict) -> dict:
        names = self.client[database].list_collection_names()
        return {"db": database, "collections": len(names), "objects": sum(
            self.client[database][name].estimated_document_count() for name in names)}

    # --- CRUD -----------------------------------------------------------------------------------------------

    def _insert(self, database: str, command: dict) -> dict:
        collection = self._collection(database, command)
        inserted, errors = 0, []
        for index, document in enumerate(command.get("documents", [])):
            try:
                collection.insert_one(document)
                inserted += 1
            except mongomock.DuplicateKeyError as error:
                errors.append({"index": index, "code": 11000, "errmsg": str(error)})
                if command.get("ordered", True):
                    break
        return {"n": inserted, **({"writeErrors": errors} if errors else {})}

    def _find(self, database: str, command: dict) -> dict:
        collection = self._collection(database, command)
        limit = int(command.get("limit") or 0)
        single = bool(command.get("singleBatch")) or limit < 0
        cursor = collection.find(command.get("filter") or {}, command.get("projection") or None,
                                 skip=int(command.get("skip") or 0), limit=abs(limit))
        if command.get("sort"):
            cursor = cursor.sort(list(command["sort"].items()))
        batch = _batch_size(command)
        if limit and (batch is None or batch > abs(limit)):
            batch = abs(limit)
        return self._cursor(database, collection.name, list(cursor), batch, single)

    def _get_more(self, database: str, command: dict) -> dict:
        cursor_id = int(command["getMore"])
        if cursor_id not in self._cursors:
            raise CommandError(f"cursor id {cursor_id} not found", 43, "CursorNotFound")
        ns, docs = self._cursors.pop(cursor_id)
        batch, rest = _take(docs, command.get("batchSize") or None)
        if rest:
            self._cursors[cursor_id] = (ns, rest)
        return {"cursor": {"nextBatch": batch, "id": Int64(cursor_id if rest else 0), "ns": ns}}

    def _kill_cursors(self, database: str, command: dict) -> dict:
        killed, missing = [], []
        for cursor_id in command.get("cursors", []):
            (killed if self._cursors.pop(int(cursor_id), None) is not None else missing).append(cursor_id)
        return {"cursorsKilled": killed, "cursorsNotFound": missing, "cursorsAlive": [], "cursorsUnknown": []}

    def _update(self, database: str, command: dict) -> dict:
        collection = self._collection(database, command)
        matched = modified = 0
        upserted = []
        for index, spec in enumerate(command.get("updates", [])):
            query, update, upsert = spec.get("q", {}), spec["u"], bool(spec.get("upsert"))
            if isinstance(update, list):
                raise NotImplementedError("update with an aggregation pipeline")
            if any(key.startswith("$") for key in update):
                method = collection.update_many if spec.get("multi") else collection.update_one
                result = method(query, update, upsert=upsert, array_filters=spec.get("arrayFilters"))
            else:
                result = collection.replace_one(query, update, upsert=upsert)
            matched += result.matched_count
            modified += result.modified_count
            if result.upserted_id is not None:
                upserted.append({"index": index, "_id": result.upserted_id})
        return {"n": matched + len(upserted), "nModified": modified, **({"upserted": upserted} if upserted else {})}

    def _delete(self, database: str, command: dict) -> dict:
        collection = self._collection(database, command)
        removed = 0
        for spec in command.get("deletes", []):
            method = collection.delete_one if spec.get("limit") == 1 else collection.delete_many
            removed += method(spec.get("q", {})).deleted_count
        return {"n": removed}

    def _count(self, database: str, command: dict) -> dict:
        collection = self._collection(database, command)
        options = {key: int(command[key]) for key in ("skip", "limit") if command.get(key)}
        return {"n": collection.count_documents(command.get("query") or {}, **options)}

    def _distinct(self, database: str, command: dict) -> dict:
        collection = self._collection(database, command)
        return {"values": collection.distinct(command["key"], command.get("query") or {})}

    def _aggregate(self, database: str, command: dict) -> dict:
        if command.get("explain"):
            raise NotImplementedError("aggregate explain")
        collection = self._collection(database, command)
        docs = list(collection.aggregate(command.get("pipeline", [])))
        return self._cursor(database, collection.name, docs, (command.get("cursor") or {}).get("batchSize"))

    def _find_and_modify(self, database: str, command: dict) -> dict:
        from pymongo import ReturnDocument

        collection = self._collection(database, command)
        query, sort = command.get("query") or {}, list((command.get("sort") or {}).items()) or None
        projection = command.get("fields") or None
        existing = collection.find_one(query, sort=sort)
        if command.get("remove"):
            value = collection.find_one_and_delete(query, projection=projection, sort=sort)
            return {"lastErrorObject": {"n": int(value is not None)}, "value": value}
        update, upsert = command.get("update") or {}, bool(command.get("upsert"))
        after = ReturnDocument.AFTER if command.get("new") else ReturnDocument.BEFORE
        if any(key.startswith("$") for key in update):
            value = collection.find_one_and_update(query, update, projection=projection, sort=sort, upsert=upsert,
                                                   return_document=after,
                                                   array_filters=command.get("arrayFilters"))
        else:
            value = collection.find_one_and_replace(query, update, projection=projection, sort=sort,
                                                    upsert=upsert, return_document=after)
        last = {"n": int(existing is not None or upsert), "updatedExisting": existing is not None}
        if existing is None and upsert:
            last["upserted"] = collection.find_one(query, sort=sort)["_id"] if value is None else value["_id"]
        return {"lastErrorObject": last, "value": value}


def _batch_size(command: dict) -> int | None:
    size = command.get("batchSize", (command.get("cursor") or {}).get("batchSize"))
    return int(size) if size else None


def _take(docs: list[dict], batch_size: int | None) -> tuple[list[dict], list[dict]]:
    """The next batch (``batch_size`` documents, 101 by default, fewer past BATCH_BYTES) and the rest."""
    limit = batch_size or 101
    size = 0
    for count, doc in enumerate(docs[:limit]):
        size += len(bson.encode(doc, codec_options=CODEC))
        if size > BATCH_BYTES and count:
            return docs[:count], docs[count:]
    return docs[:limit], docs[limit:]


def _short(command: dict, limit: int = 300) -> str:
    text = repr({k: v for k, v in command.items() if k not in GENERIC_FIELDS})
    return text if len(text) <= limit else text[:limit] + "..."


# --- TCP framing --------------------------------------------------------------------------------------------

class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    wire: MongoWire


class _Handler(socketserver.BaseRequestHandler):
    """One client connection: read messages, answer each (OP_MSG with moreToCome gets no answer)."""

    def handle(self) -> None:
        wire: MongoWire = self.server.wire  # type: ignore[attr-defined]
        sock: socket.socket = self.request
        wire._sockets.add(sock)
        try:
            while True:
                header = _read(sock, HEADER.size)
                if header is None:
                    return
                length, request_id, _, opcode = HEADER.unpack(header)
                body = _read(sock, length - HEADER.size)
                if body is None:
                    return
                reply = _answer(wire, opcode, request_id, body)
                if reply:
                    sock.sendall(reply)
        except (ConnectionError, OSError):
            return
        finally:
            wire._sockets.discard(sock)


def _read(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_reply_ids = itertools.count(1)


def _answer(wire: MongoWire, opcode: int, request_id: int, body: bytes) -> bytes:
    if opcode == OP_MSG:
        flags = struct.unpack_from("<I", body)[0]
        end = len(body) - (4 if flags & 1 else 0)
        command: dict[str, Any] = {}
        position = 4
        while position < end:
            kind = body[position]
            position += 1
            if kind == 0:
                (size,) = struct.unpack_from("<i", body, position)
                command.update(bson.decode(body[position:position + size], codec_options=CODEC))
                position += size
            else:
                (size,) = struct.unpack_from("<i", body, position)
                section = body[position + 4:position + size]
                identifier, documents = section.split(b"\0", 1)
                command[identifier.decode()] = bson.decode_all(documents, codec_options=CODEC)
                position += size
        reply = wire.run_command(command.get("$db", "admin"), command)
        if flags & 2:  # moreToCome: the client wants no answer
            return b""
        payload = struct.pack("<IB", 0, 0) + bson.encode(reply, codec_options=CODEC)
        return HEADER.pack(HEADER.size + len(payload), next(_reply_ids), request_id, OP_MSG) + payload
    if opcode == OP_QUERY:
        name_end = body.index(b"\0", 4)
        namespace = body[4:name_end].decode()
        position = name_end + 1 + 8  # numberToSkip, numberToReturn
        (size,) = struct.unpack_from("<i", body, position)
        query = bson.decode(body[position:position + size], codec_options=CODEC)
        query = query.get("$query", query) if "$query" in query else query
        database, _, collection = namespace.partition(".")
        if collection == "$cmd":
            reply = wire.run_command(database, query)
        else:
            log.warning("UNKNOWN legacy OP_QUERY on %s: %s", namespace, _short(query))
            wire.unknown.append(f"OP_QUERY {namespace}")
            reply = {"$err": "mongo_wire: legacy queries are not supported", "code": 59, "ok": 0.0}
        payload = struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(reply, codec_options=CODEC)
        return HEADER.pack(HEADER.size + len(payload), next(_reply_ids), request_id, OP_REPLY) + payload
    log.warning("UNKNOWN opcode %d (%d bytes): closing the connection", opcode, len(body))
    wire.unknown.append(f"opcode {opcode}")
    raise ConnectionError(f"opcode {opcode}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.omniboard.mongo_wire", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=27017, help="0: a free port (printed)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (0.0.0.0 only inside a container's own network, as check-compose does)")
    parser.add_argument("--verbose", action="store_true", help="log every command")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="[mongo_wire] %(message)s")
    server = MongoWire(args.port, host=args.host).start()
    print(f"mongo_wire listening on {server.url('')}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
