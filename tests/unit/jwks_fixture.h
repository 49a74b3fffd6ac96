/*
 * Fixed keys and ID tokens for tests/unit/test_jwks.c, made once with node:crypto: an RSA-2048
 * key k1 (RS256, use sig), an EC P-256 key k2, an RSA-1024 key k3 (too small); tokens with the
 * claims {iss I, aud C, nonce N, sub s1, iat 1, exp 2100-01-01}.  Public keys only.
 */
#define JWKS \
	"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"0ig2h_FejwFFxeZ5RyUbE_mfwqLSNrE9A3gZBxvRQHXOebVCaXaO1" \
	"1v3gHLfXaUOT7LBcqPs9COlzuo07vuptaYS-VBrxQwDHEkds3md7cWYrE-hANi-TdoKgOzPZAsMRE--Z" \
	"XTQcGazg5ofeSbYflddXeJCu_Chb_Npq2Po58jUS2jxGhJoybvNvJZZWSqP-PSIEtCsV4osytNWyEx6T" \
	"n9o9wl1Pp6Xl21YHhCwimF9PndrfxCQQN6lWfPAHSMqLu7frBHFYRepMchhfgX3MWsT2F8bKo7uMh_nS" \
	"vcqgS6qy4eTygcIultEhZQ2DHvWGKdCddGPQfLD_9_lYWcidw\",\"e\":\"AQAB\",\"kid\":\"k1\",\"use\":\"" \
	"sig\",\"alg\":\"RS256\"},{\"kty\":\"EC\",\"x\":\"U3uC79oG3cRd6Nl55plSpCTjxbZMyXRXH74Ffel22Ys" \
	"\",\"y\":\"tEF4e0pQWpjH3aauK82uZKOGvmIEe8Gtbjf6MkyA8nU\",\"crv\":\"P-256\",\"kid\":\"k2\",\"us" \
	"e\":\"sig\"},{\"kty\":\"RSA\",\"n\":\"7JTdp3w-XuaeopswsyW_BQHltk2_HTQcVWTyAd7yWFTf-ZMvVsPv" \
	"E3rbwXy4rwenyjnoF1oL69pb-B9skzSjXtOFaeLVxd4gYOUZqI5FWHAfQDPt5CP7IlttJfQAcnZ8zNBx" \
	"LMl1LT1l_-WK0eZVWbYaaIatnxG-DVD83RObHy0\",\"e\":\"AQAB\",\"kid\":\"k3\"}]}"
#define JWKS_ANY \
	"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"0ig2h_FejwFFxeZ5RyUbE_mfwqLSNrE9A3gZBxvRQHXOebVCaXaO1" \
	"1v3gHLfXaUOT7LBcqPs9COlzuo07vuptaYS-VBrxQwDHEkds3md7cWYrE-hANi-TdoKgOzPZAsMRE--Z" \
	"XTQcGazg5ofeSbYflddXeJCu_Chb_Npq2Po58jUS2jxGhJoybvNvJZZWSqP-PSIEtCsV4osytNWyEx6T" \
	"n9o9wl1Pp6Xl21YHhCwimF9PndrfxCQQN6lWfPAHSMqLu7frBHFYRepMchhfgX3MWsT2F8bKo7uMh_nS" \
	"vcqgS6qy4eTygcIultEhZQ2DHvWGKdCddGPQfLD_9_lYWcidw\",\"e\":\"AQAB\",\"kid\":\"k1\"}]}"
#define RS256 \
	"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJJIiwiYXVkIjoiQyIsIm5vbmNlIjoiTiIs" \
	"InN1YiI6InMxIiwiaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9.X9O5wTqfV7-UDf2KzqyXYLvBwPg93XV" \
	"kvGAa6CxvwczEY725rYrEUaPjywlxw-SQfDJZ-vY9hfBpyCnrH_vhypgK_qsUBoHtgluXt0wepZaJCU0" \
	"ONAUhvrnWFQf1fWySKD4ZHqrBuwOnmOsseXreNJ0xx2AkKgisRY6P-vatu22OgNOFwZOQ8MBc-MK0uOA" \
	"NFaM1YyLS6Bm6Zl-LjCn-mn7J9EVLZW0nqm7kObdv5dDtHM_zFKsDXkvutu_BnsvW5H6zQXgBsutvoQO" \
	"7oMX7jclr7UKNGMmySzMwJJJKwP_EJY9tJIgrnMQDaYW4fOyKdhyDdi73b0EbJR8ivZnNxA"
#define TAMPERED \
	"eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJJIiwiYXVkIjoiQyIsIm5vbmNlIjoiTiIs" \
	"InN1YiI6Im1hbGxvcnkiLCJpYXQiOjEsImV4cCI6NDEwMjQ0NDgwMH0.X9O5wTqfV7-UDf2KzqyXYLvB" \
	"wPg93XVkvGAa6CxvwczEY725rYrEUaPjywlxw-SQfDJZ-vY9hfBpyCnrH_vhypgK_qsUBoHtgluXt0we" \
	"pZaJCU0ONAUhvrnWFQf1fWySKD4ZHqrBuwOnmOsseXreNJ0xx2AkKgisRY6P-vatu22OgNOFwZOQ8MBc" \
	"-MK0uOANFaM1YyLS6Bm6Zl-LjCn-mn7J9EVLZW0nqm7kObdv5dDtHM_zFKsDXkvutu_BnsvW5H6zQXgB" \
	"sutvoQO7oMX7jclr7UKNGMmySzMwJJJKwP_EJY9tJIgrnMQDaYW4fOyKdhyDdi73b0EbJR8ivZnNxA"
#define ES256 \
	"eyJhbGciOiJFUzI1NiIsImtpZCI6ImsyIn0.eyJpc3MiOiJJIiwiYXVkIjoiQyIsIm5vbmNlIjoiTiIs" \
	"InN1YiI6InMxIiwiaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9.fSXDgw76dnOzNKT9VnrCPuD3CS2jSHj" \
	"HtYGG5BdS9KU0XrHBY28tRnTlmLAiJYyiGZb3J0QVJYIyNxHD6zs12g"
#define NOKID \
	"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJJIiwiYXVkIjoiQyIsIm5vbmNlIjoiTiIsInN1YiI6InMxIiw" \
	"iaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9.qGZfG0bHKqautOUCKYLC9saz-NdsyrcqVkkej3tROjbG-d" \
	"kEvy3G7JD6CCajZALNr5a1o-uKFmZGYLcdS7GWgW1jeOvvvP7ayFoOx-TimNyspsu9EmUmOzCpl_Wm5x" \
	"udmuxm-f7cAKJpafsQERiDwxrcD7_b5HMkN3fCAhB5eI7wHZ_khtQzEnOoU-xItLkaEti40Dqg3u5LzI" \
	"MH4Gh-ChdJTS6Fml08DOJTzryyLsv1Vp2hw9YVnRv_ubiX_Q6hZY7spcH0LoE4Dkp-wThMbR1km-mRYl" \
	"meM-II3kbIRl5hYzUEYhlG-gUsKpOzBBcT5-muyF5Cc-3MeSqtDaRBKw"
#define UNKNOWN \
	"eyJhbGciOiJSUzI1NiIsImtpZCI6Ims5In0.eyJpc3MiOiJJIiwiYXVkIjoiQyIsIm5vbmNlIjoiTiIs" \
	"InN1YiI6InMxIiwiaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9.sK0gnXsjL9ZBaVaDy2U7Vn_C-SZsfJ8" \
	"a_WJBCeOQbdutIpn9wJZfAemVuuSMzs1KuET1VVWj0PsyvL_YuFpzfgxJcwVKsYmUFJ40NNXgvPfxNYn" \
	"fd-mLorSbOtjugrEhwJOCh2WEvoRf-cg-7ULtiotK7ayFvd3EoMghMCR3v7s7lMMwhPBLCoOllyj9TUJ" \
	"JEfOew_Z6vTGhJFUS4Bp7jH50Jn53MgIDT6216Aa7Hr3DvfQmTeTwOUVxK5ja5cVi2U4LrzmCNkLYpyJ" \
	"3tdBCf7ryVJgmiaxQkbxQ9l6KdPVkAE56veUMbVQCgi3nBOXEb5u1ljA802y00p8Fp5EVPQ"
#define RS384 \
	"eyJhbGciOiJSUzM4NCIsImtpZCI6ImsxIn0.eyJpc3MiOiJJIiwiYXVkIjoiQyIsIm5vbmNlIjoiTiIs" \
	"InN1YiI6InMxIiwiaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9.k9q_h-wRhx3kudhk3atkFG40-OPOnOP" \
	"pZhz3lltMCiy1zYS9dqa0hYOSFYHs1wf84PgGL4FxQ13KfU9IWPx7GkYTc_yMC5_P54eogqBaqQDLuFo" \
	"PsDM2n6M26K2nvc5jjZIPMdvybbEvBBk7Zks_UYoZcvXR4qNyyV1MdLQycW_zuBDgTKrmH8ZB_cVE4Dv" \
	"qPzVdBU9wzx2vOV5VnpzOJGO5zFhUAC_yt_PzphhxabcG8NYk3xp2BiZHn20PJSAP6_bUji2_DUvG0Qo" \
	"-HdgKm5MEFLZ9qTAqUMacntENm-ZwoHuyrqLQ5_FwtwZJSE8-ciVMNRh6kqOA5EqFW2pOPg"
#define SMALL \
	"eyJhbGciOiJSUzI1NiIsImtpZCI6ImszIn0.eyJpc3MiOiJJIiwiYXVkIjoiQyIsIm5vbmNlIjoiTiIs" \
	"InN1YiI6InMxIiwiaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9.haOen6Ak79fx7ZDUurdPAe7EjoNxFld" \
	"cTLSjLIi_XAOhKHmCeZHK-nDMCGpcNw7baaMSy18CLhn54wJpWXB1QPjLuLu45VydeXlQkNvwchZXlJG" \
	"qp1tgshSB8t0tf-9Vp7djQSFhtY3FxJN9E2PEMm9nRuQVGn10UyrRyl_kAWw"
#define ES_ON_RSA \
	"eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJJIiwiYXVkIjoiQyIsIm5vbmNlIjoiTiIs" \
	"InN1YiI6InMxIiwiaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9.hYtGH73IPI_6nSVR7qry1L2JddtjBe0" \
	"P0W519cVVLc7y8lzE1G58f4kHT-Umk14EwmdswpLWCUxdkASaChthuQ"
#define NONE \
	"eyJhbGciOiJub25lIiwia2lkIjoiazEifQ.eyJpc3MiOiJJIiwiYXVkIjoiQyIsIm5vbmNlIjoiTiIsI" \
	"nN1YiI6InMxIiwiaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9."
#define HS256 \
	"eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJJIiwiYXVkIjoiQyIsIm5vbmNlIjoiTiIs" \
	"InN1YiI6InMxIiwiaWF0IjoxLCJleHAiOjQxMDI0NDQ4MDB9.IW7kq__3PgkZDF4eMw39YoC60h56zYB" \
	"tDjLSssGCU-g"
