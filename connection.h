/*-------------------------------------------------------------------------
 *
 * connection.h
 *		  The backend's libcurl handles, shared by http.c and connection.c.
 *
 * Only http.c and connection.c include this header (and so curl.h): see
 * topcalls_fdw.h for why the rest of the extension must not.
 *
 * Copyright (c) 2026, the topcalls_fdw authors
 *
 * IDENTIFICATION
 *		  topcalls_fdw/connection.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOPCALLS_FDW_CONNECTION_H
#define TOPCALLS_FDW_CONNECTION_H

#include <curl/curl.h>

#include "topcalls_fdw.h"

/*
 * curl_multi_poll and CURLINFO_RETRY_AFTER came in 7.66.0; the _STR protocol
 * options in 7.85.0 (older versions have the bitmask options, used below).
 */
#if LIBCURL_VERSION_NUM < 0x074200
#error "topcalls_fdw needs libcurl 7.66.0 or later"
#endif

/*
 * Set an easy-handle option and raise an ERROR if libcurl refuses it: a
 * security option silently ignored (say the protocol restriction on an old
 * libcurl) must not go unnoticed.  Only the option's name is reported, never
 * its value, which for the headers contains the API key.
 */
#define TC_SETOPT(easy, opt, val) \
	do { \
		CURLcode	tc_rc_ = curl_easy_setopt((easy), (opt), (val)); \
		if (tc_rc_ != CURLE_OK) \
			tc_setopt_failed(#opt, tc_rc_); \
	} while (0)

/* The backend's handles; NULL until tc_conn_setup, and after tc_conn_forget. */
extern CURLM *tc_multi;
extern CURLSH *tc_share;

/* The libcurl loaded has CURLOPT_QUICK_EXIT (set by tc_conn_setup). */
extern bool tc_quick_exit;

/* Bumped each time tc_conn_configure sets the multi handle's options. */
extern uint64 tc_conn_generation;

extern void tc_conn_setup(void);
extern uint64 tc_conn_configure(int nslots);
extern void tc_conn_keep_idle(int max_idle);
extern void tc_conn_trim_idle(int max_idle);
extern curl_socket_t tc_conn_open_socket(void *clientp, curlsocktype purpose,
										 struct curl_sockaddr *address);
extern int	tc_conn_close_socket(void *clientp, curl_socket_t fd);
extern void tc_conn_forget(void);
extern int	tc_conn_claim_slots(int wanted);
extern CURL *tc_conn_easy_get(void);
extern void tc_conn_easy_release(CURL *easy, bool reuse);
extern struct curl_slist *tc_conn_build_headers(const TcOptions *opts);
extern void tc_conn_free_headers(struct curl_slist *list);
extern CURLMcode tc_conn_perform(int *running);
pg_noreturn extern void tc_setopt_failed(const char *name, CURLcode rc);
pg_noreturn extern void tc_multi_failed(const char *func, CURLMcode mc);

#endif							/* TOPCALLS_FDW_CONNECTION_H */
