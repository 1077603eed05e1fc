"""Programming tasks with unit tests for the generation quality benchmark.

Each task: a request (as a user would type it), the file and function the answer must
define, and pytest tests that decide pass or fail. Written for this benchmark; small on
purpose, since the packaged models are small.
"""

TASKS = [
    {"id": "fizzbuzz", "request": "write fizzbuzz(n) returning a list of strings for 1..n: "
     "'Fizz' for multiples of 3, 'Buzz' for multiples of 5, 'FizzBuzz' for both, else the "
     "number as a string", "tests": """
from solution import fizzbuzz
def test_fizzbuzz():
    assert fizzbuzz(5) == ["1", "2", "Fizz", "4", "Buzz"]
    assert fizzbuzz(15)[-1] == "FizzBuzz"
    assert fizzbuzz(0) == []
"""},
    {"id": "palindrome", "request": "write is_palindrome(s) that ignores case, spaces and "
     "punctuation", "tests": """
from solution import is_palindrome
def test_palindrome():
    assert is_palindrome("A man, a plan, a canal: Panama")
    assert not is_palindrome("hello")
    assert is_palindrome("")
"""},
    {"id": "word_count", "request": "write word_count(text) returning a dict from each "
     "lower-cased word to how often it occurs; words are separated by whitespace",
     "tests": """
from solution import word_count
def test_word_count():
    assert word_count("a b A") == {"a": 2, "b": 1}
    assert word_count("") == {}
"""},
    {"id": "flatten", "request": "write flatten(items) that flattens arbitrarily nested "
     "lists into one flat list", "tests": """
from solution import flatten
def test_flatten():
    assert flatten([1, [2, [3, [4]]], 5]) == [1, 2, 3, 4, 5]
    assert flatten([]) == []
"""},
    {"id": "roman", "request": "write to_roman(n) converting an integer from 1 to 3999 to "
     "a Roman numeral string", "tests": """
from solution import to_roman
def test_roman():
    assert to_roman(1994) == "MCMXCIV"
    assert to_roman(4) == "IV"
    assert to_roman(3999) == "MMMCMXCIX"
"""},
    {"id": "fibonacci", "request": "write fibonacci(n) returning the first n Fibonacci "
     "numbers as a list, starting 0, 1", "tests": """
from solution import fibonacci
def test_fib():
    assert fibonacci(7) == [0, 1, 1, 2, 3, 5, 8]
    assert fibonacci(0) == []
    assert fibonacci(1) == [0]
"""},
    {"id": "merge_intervals", "request": "write merge_intervals(intervals) that merges "
     "overlapping [start, end] intervals and returns them sorted", "tests": """
from solution import merge_intervals
def test_merge():
    assert merge_intervals([[1, 3], [2, 6], [8, 10]]) == [[1, 6], [8, 10]]
    assert merge_intervals([[5, 6], [1, 2]]) == [[1, 2], [5, 6]]
    assert merge_intervals([]) == []
"""},
    {"id": "rle", "request": "write rle_encode(s) doing run-length encoding, so 'aaabcc' "
     "becomes 'a3b1c2'", "tests": """
from solution import rle_encode
def test_rle():
    assert rle_encode("aaabcc") == "a3b1c2"
    assert rle_encode("") == ""
    assert rle_encode("x") == "x1"
"""},
    {"id": "binary_search", "request": "write binary_search(items, target) returning the "
     "index of target in the sorted list items, or -1 when absent", "tests": """
from solution import binary_search
def test_bs():
    assert binary_search([1, 3, 5, 7], 5) == 2
    assert binary_search([1, 3, 5, 7], 4) == -1
    assert binary_search([], 1) == -1
"""},
    {"id": "unique", "request": "write unique(items) returning the items without "
     "duplicates, keeping the first occurrence order", "tests": """
from solution import unique
def test_unique():
    assert unique([3, 1, 3, 2, 1]) == [3, 1, 2]
    assert unique([]) == []
"""},
    {"id": "anagrams", "request": "write group_anagrams(words) returning a list of groups "
     "(lists) of words that are anagrams of each other, groups in order of first "
     "appearance", "tests": """
from solution import group_anagrams
def test_anagrams():
    assert group_anagrams(["eat", "tea", "tan", "ate", "nat", "bat"]) == [
        ["eat", "tea", "ate"], ["tan", "nat"], ["bat"]]
"""},
    {"id": "max_subarray", "request": "write max_subarray(nums) returning the largest sum "
     "of a contiguous non-empty subarray", "tests": """
from solution import max_subarray
def test_kadane():
    assert max_subarray([-2, 1, -3, 4, -1, 2, 1, -5, 4]) == 6
    assert max_subarray([-3, -1, -2]) == -1
"""},
    {"id": "celsius", "request": "write celsius_to_fahrenheit(c) returning the temperature "
     "in Fahrenheit as a float", "tests": """
from solution import celsius_to_fahrenheit
def test_c2f():
    assert celsius_to_fahrenheit(100) == 212.0
    assert abs(celsius_to_fahrenheit(-40) + 40.0) < 1e-9
"""},
    {"id": "parse_query", "request": "write parse_query(qs) turning a URL query string like "
     "'a=1&b=2' into a dict of strings, ignoring empty parts", "tests": """
from solution import parse_query
def test_qs():
    assert parse_query("a=1&b=2") == {"a": "1", "b": "2"}
    assert parse_query("") == {}
    assert parse_query("a=1&&b=") == {"a": "1", "b": ""}
"""},
    {"id": "chunks", "request": "write chunked(items, size) splitting a list into lists of "
     "at most size items", "tests": """
from solution import chunked
def test_chunked():
    assert chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunked([], 3) == []
"""},
]
