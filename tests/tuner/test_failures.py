"""One table (`bot.tuner.failures`) from each cause of a request without an answer to what the
tuner client says: aiohttp's errors as the transport meets them, httpx's as a mock transport
or httpx's gzip decoder raise them."""

from __future__ import annotations

import aiohttp
import httpx
import pytest
from pydantic import SecretStr
from yarl import URL

from bot.errors import ConfigError, TunerBadResponse, TunerUnavailable
from bot.tuner import failures
from bot.tuner.client import TunerClient

KEY = "ei_SECRET-failures-77"


def _connector_error() -> aiohttp.ClientConnectorError:
    key = aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, False, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


@pytest.mark.parametrize(
    ("cause", "seen", "words"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout, failures.TIMED_OUT),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout, failures.TIMED_OUT),
        (TimeoutError(), httpx.ReadTimeout, failures.TIMED_OUT),
        (_connector_error(), httpx.ConnectError, failures.NO_CONNECTION),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError, failures.NO_CONNECTION),
        (aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError, failures.NO_CONNECTION),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError, failures.NO_CONNECTION),
        (aiohttp.ClientError("other"), httpx.TransportError, failures.NO_CONNECTION),
        (aiohttp.InvalidUrlClientError(URL("ftp://x")), httpx.UnsupportedProtocol, None),
    ],
)
def test_each_aiohttp_cause_is_one_httpx_error_and_one_meaning(
    cause: BaseException, seen: type[httpx.HTTPError], words: str | None
) -> None:
    error = failures.as_httpx(cause)
    assert type(error) is seen
    meaning = failures.meaning_of(error)
    if words is None:
        assert meaning.tuner is None  # EI_API_URL's fault: a ConfigError
    else:
        assert (meaning.words, meaning.tuner) == (words, TunerUnavailable)


def client(raised: Exception) -> TunerClient:
    def handler(request: httpx.Request) -> httpx.Response:
        raise raised

    return TunerClient(
        httpx.MockTransport(handler),
        base_url="http://127.0.0.1:9/v1",
        api_key_for=lambda _: SecretStr(KEY),
        attempts=1,
    )


@pytest.mark.parametrize(
    ("raised", "expected", "said"),
    [
        (httpx.WriteTimeout("slow"), TunerUnavailable, "timed out: WriteTimeout: slow at http://"),
        (httpx.PoolTimeout("full"), TunerUnavailable, "timed out: PoolTimeout"),
        (httpx.ConnectError(f"refused {KEY}"), TunerUnavailable, "connection failed: ConnectError"),
        (httpx.DecodingError("bad gzip"), TunerBadResponse, "unreadable answer: DecodingError"),
        (httpx.UnsupportedProtocol("ftp"), ConfigError, "EI_API_URL must be an http(s) URL"),
    ],
)
async def test_the_client_says_what_each_httpx_error_means(
    raised: Exception, expected: type[Exception], said: str
) -> None:
    with pytest.raises(expected) as caught:
        await client(raised).fetch("7")
    assert type(caught.value) is expected
    assert said in str(caught.value)
    assert KEY not in str(caught.value)
    unchained = caught.value.__context__ is None or caught.value.__suppress_context__
    assert caught.value.__cause__ is None and unchained  # no traceback quotes the key


def test_a_gzip_body_that_is_not_gzip_is_a_bad_answer_not_an_outage() -> None:
    """httpx's decoder, reading the transport's still-encoded body, raises DecodingError."""
    with pytest.raises(httpx.DecodingError) as caught:
        httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"not gzip").read()
    assert failures.meaning_of(caught.value).tuner is TunerBadResponse
