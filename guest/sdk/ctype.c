/*
 * Character classes of the "C" locale, for parsing guest arguments. ASCII
 * only: guests have no locale, and bytes above 0x7f belong to no class.
 */
#include "libc.h"

int RL(isdigit)(int c)
{
	return c >= '0' && c <= '9';
}

int RL(isxdigit)(int c)
{
	return RL(isdigit)(c) || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

int RL(isspace)(int c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

int RL(isupper)(int c)
{
	return c >= 'A' && c <= 'Z';
}

int RL(islower)(int c)
{
	return c >= 'a' && c <= 'z';
}

int RL(isalpha)(int c)
{
	return RL(isupper)(c) || RL(islower)(c);
}

int RL(isalnum)(int c)
{
	return RL(isalpha)(c) || RL(isdigit)(c);
}

int RL(isprint)(int c)
{
	return c >= 0x20 && c < 0x7f;
}

int RL(tolower)(int c)
{
	return RL(isupper)(c) ? c - 'A' + 'a' : c;
}

int RL(toupper)(int c)
{
	return RL(islower)(c) ? c - 'a' + 'A' : c;
}
